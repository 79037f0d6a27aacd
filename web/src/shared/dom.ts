// Small DOM helpers shared by the pages: element lookup, HTML escaping,
// screen-reader announcements, storage that survives private mode.

/** The element with this id (the pages' markup always has it). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

/** Escapes text for use inside HTML markup and attribute values. */
export const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Says `text` through a live region: `#announcer` (polite) or `#alerter` (assertive).
 * A fresh text node in a later task makes screen readers announce repeats too.
 */
export function say(text: string, assertive = false): void {
  const el = $(assertive ? 'alerter' : 'announcer');
  el.textContent = '';
  setTimeout(() => {
    el.textContent = text;
  }, 60);
}

/** localStorage / sessionStorage that never throws (private mode, storage disabled). */
export const storage = {
  get(key: string, s: Storage = localStorage): string | null {
    try {
      return s.getItem(key);
    } catch {
      return null;
    }
  },
  set(key: string, value: string | null | undefined, s: Storage = localStorage): void {
    try {
      if (value == null) s.removeItem(key);
      else s.setItem(key, value);
    } catch {
      /* private mode */
    }
  },
};
