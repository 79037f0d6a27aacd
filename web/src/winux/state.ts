// The visitor page's state: one object, read by the rendering and changed by the session flow.
// The session token lives in an HttpOnly cookie the page never sees; the page only
// remembers the last session id (not secret) to say "your session ended" after a reload.
import { apiBase, createApi } from '../shared/api.ts';
import type { EndedReason, Info, Level, Os, Session, View } from './types.ts';

export const API = apiBase(import.meta.url);
export const api = createApi(API);

export const STEPS = ['queued', 'allocating', 'cloning', 'starting', 'network', 'desktop'] as const;
export const OSES: readonly Os[] = ['windows', 'mac', 'linux', 'mobile'];
export const WARN_AT = 300;
export const DANGER_AT = 60;
export const RESYNC_MS = 30_000;
export const POLL_MS = 1000;
export const FAST_POLL_MS = 500; // the first seconds of a creation, when a warm desktop may be ready at once
export const SAFETY_POLL_MS = 5000; // while the server's event stream reports changes as they happen
export const LEVELS: Record<Level, number> = { ok: 0, warn: 1, danger: 2 };

type Timer = ReturnType<typeof setTimeout>;

export interface Banner {
  key: string;
  cls: 'warn' | 'error';
  title(): string;
  body(): string;
  action?: { label(): string; fn(): void };
  /** Say it through the live region (default true). */
  announce?: boolean;
}

export interface Offline {
  fn: () => void;
  attempt: number;
  at: number;
  timer: Timer;
}

export const state = {
  info: null as Info | null,
  /** The desktop picked on the page (null: the server's default). */
  desktop: null as string | null,
  session: null as Session | null,
  view: 'loading' as View,
  /** performance.now() at which the session's time runs out. */
  deadline: 0,
  /** Server clock minus local clock, from expires_at and remaining_seconds. */
  skew: 0,
  syncTimer: undefined as Timer | undefined,
  tickTimer: undefined as Timer | undefined,
  level: null as Level | null,
  lastMinute: null as number | null,
  endedReason: null as EndedReason | null,
  /** What the credentials and how-to were last built for (rebuilt when it changes). */
  builtFor: '',
  osTab: guessOs(),
  banner: null as Banner | null,
  offline: null as Offline | null,
  rateUntil: 0,
  pendingLaunch: false,
  launching: false,
  /** The session whose desktop opens in the page as soon as it is ready (the visitor ticked "open at once"). */
  openOnReady: null as string | null,
  /** The open event stream of the session being followed. */
  events: null as { id: string; source: EventSource } | null,
};

function guessOs(): Os {
  const ua = navigator.userAgent;
  if (/Android|iPhone|iPad|iPod/i.test(ua)) return 'mobile';
  if (/Windows/i.test(ua)) return 'windows';
  if (/Macintosh|Mac OS X/i.test(ua)) return 'mac';
  return 'linux';
}

/** Whole seconds left in the session, from the local countdown. */
export const remaining = (): number => Math.max(0, Math.ceil((state.deadline - performance.now()) / 1000));
/** The server's clock, as far as the page knows it. */
export const serverNow = (): number => Date.now() + state.skew;
