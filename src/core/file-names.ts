// The names a visitor may give a file sent into their desktop. Refused (never
// silently changed into something else) when they could mean a path, hide
// themselves or mislead: the visitor sees why and can rename. A name already
// taken in the folder is not refused: the desktop gives "name (1).ext".
import { errors } from './errors.ts';

/** Bytes of UTF-8 a name may take (ext4 allows 255; room is kept for " (999)"). */
export const maxNameBytes = 200;

// Control characters (NUL, newline, escape…), and invisible or direction-changing
// ones that make "gpj.exe" display as "exe.jpg": bidi controls, zero-width
// characters, the BOM, the line and paragraph separators.
const refusedChars = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;

/** The name to use (Unicode NFC), or a 400 saying why it is refused. */
export function checkFileName(raw: string): string {
  const name = raw.normalize('NFC');
  const refuse = (why: string) => errors.badRequest(`This file name is refused: ${why}. Rename the file and send it again.`, { reason: why });
  if (name.length === 0) throw refuse('it is empty');
  if (refusedChars.test(name)) throw refuse('it contains control or invisible characters');
  if (name.includes('/') || name.includes('\\')) throw refuse('it contains / or \\ (a path, not a name)');
  if (name.startsWith('.')) throw refuse('it starts with a dot (a hidden file, or . and ..)');
  if (name.trim() !== name) throw refuse('it starts or ends with a space');
  if (Buffer.byteLength(name, 'utf8') > maxNameBytes) throw refuse(`it is longer than ${maxNameBytes} bytes`);
  if (name.includes('\ufffd')) throw refuse('it is not valid Unicode');
  return name;
}
