// The options of the template's winux-session-set (also understood by
// winux-session-init), shared by the providers that run it: the session's end in
// epoch seconds (rounded up: the desktop never shows less time than there is)
// and the desktop's language. Only digits and "fr"/"en" come out of here.
import { languages, type Language } from '../core/provider-port.ts';

export function sessionSetArgs(info: { language?: Language; endsAt?: number }): string[] {
  if (info.language && !languages.includes(info.language)) throw new Error(`unknown language ${String(info.language)}`);
  if (info.endsAt !== undefined && !Number.isFinite(info.endsAt)) throw new Error('endsAt must be a time');
  return [...(info.language ? ['--language', info.language] : []), ...(info.endsAt === undefined ? [] : ['--ends-at', String(Math.ceil(info.endsAt / 1000))])];
}
