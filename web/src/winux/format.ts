// Formatting for the visitor page: durations, clock times, countdowns, addresses, the FreeRDP command.
import type { Session } from './types.ts';

/** A duration in minutes as people say it: "30 min", "2 h", "1 h 30". */
export const dur = (min: number): string =>
  min % 60 === 0 && min >= 60 ? `${min / 60} h` : min > 60 ? `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')}` : `${min} min`;

/** host:port, with brackets around an IPv6 address. */
export const hp = (s: Pick<Session, 'host' | 'port'>): string => (String(s.host).includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/**
 * A wall-clock time (hours:minutes) in the page's language. One formatter per
 * language, kept: making one costs milliseconds, and the first of a language
 * loads the browser's locale data (90 ms in the profile of a launch click).
 */
export function clockIn(lang: string, ms: number): string {
  let format = clockFormats.get(lang);
  if (!format) clockFormats.set(lang, (format = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' })));
  return format.format(new Date(ms));
}
const clockFormats = new Map<string, Intl.DateTimeFormat>();

/** A countdown: mm:ss, or h:mm:ss from an hour. */
export function fmt(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = String(sec % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${String(m).padStart(2, '0')}:${s}`;
}

const shq = (v: unknown): string => `'${String(v).replace(/'/g, `'\\''`)}'`;
/** The FreeRDP command line for a session. */
export const xfreerdp = (s: Session): string => `xfreerdp /v:${hp(s)} /u:${shq(s.username)} /p:${shq(s.password)} /cert:ignore /dynamic-resolution +clipboard`;
