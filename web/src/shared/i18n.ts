// Strings per language for the pages: one table per language, the same keys and
// signatures in each (a table is typed as the reference one), French as the fallback.
import { storage } from './dom.ts';

/** A string, or a function of the values it shows. */
export type Entry = string | ((...args: never[]) => string);
export type Table = Record<string, Entry>;
type Args<V> = V extends (...args: infer A) => string ? A : [];

export interface I18n<T extends Table, L extends string> {
  /** The language in use. */
  readonly lang: L;
  setLang(lang: L): void;
  /** The string for a key in the current language (else the fallback language's, else the key). */
  t<K extends keyof T & string>(key: K, ...args: Args<T[K]>): string;
  /** The same for a key read from the markup (data-i18n): unknown keys give the key back. */
  text(key: string): string;
  /** Fills every [data-i18n] element under `root` with its string. */
  apply(root?: ParentNode): void;
}

/**
 * The language saved by the visitor (`storageKey`), else the browser's first
 * supported one, else the fallback (the first of `tables`).
 */
export function pickLang<L extends string>(supported: readonly L[], storageKey: string): L {
  const saved = storage.get(storageKey);
  if (saved && (supported as readonly string[]).includes(saved)) return saved as L;
  for (const l of navigator.languages?.length ? navigator.languages : [navigator.language || '']) {
    const p = String(l).slice(0, 2).toLowerCase();
    if ((supported as readonly string[]).includes(p)) return p as L;
  }
  return supported[0];
}

export function createI18n<T extends Table, L extends string>(tables: Record<L, T>, lang: L, fallback: L): I18n<T, L> {
  const lookup = (key: string, args: unknown[]): string => {
    const v: Entry | undefined = tables[current][key] ?? tables[fallback][key];
    if (v === undefined) return key;
    return typeof v === 'function' ? (v as (...a: unknown[]) => string)(...args) : v;
  };
  let current = lang;
  return {
    get lang() {
      return current;
    },
    setLang(l) {
      current = l;
    },
    t: (key, ...args) => lookup(key, args),
    text: (key) => lookup(key, []),
    apply(root: ParentNode = document) {
      for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) el.textContent = lookup(el.dataset.i18n ?? '', []);
    },
  };
}
