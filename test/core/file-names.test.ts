// The names a file sent into a desktop may have: paths, hidden files, control and
// invisible characters, over-long names are refused with the reason; the rest
// (accents, other scripts, spaces inside) pass, normalised to NFC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkFileName, maxNameBytes } from '../../src/core/file-names.ts';
import { WinuxError } from '../../src/core/errors.ts';

const refused = (name: string, reason: RegExp) =>
  assert.throws(
    () => checkFileName(name),
    (e: unknown) => e instanceof WinuxError && e.status === 400 && reason.test(e.message),
    JSON.stringify(name),
  );

test('hostile names are refused, saying why', () => {
  refused('../../etc/passwd', /path/);
  refused('..\\..\\boot.ini', /path/);
  refused('/etc/shadow', /path/);
  refused('..', /dot/);
  refused('.', /dot/);
  refused('.bashrc', /dot/);
  refused('', /empty/);
  refused('a\0b', /control/);
  refused('a\nb', /control/);
  refused('\u001b[31mred', /control/);
  refused('invoice\u202egpj.exe', /invisible/);
  refused('zero\u200bwidth', /invisible/);
  refused('\ufeffbom', /invisible/);
  refused(' lead', /space/);
  refused('trail ', /space/);
  refused('x'.repeat(maxNameBytes + 1), /longer/);
  refused('é'.repeat(maxNameBytes / 2 + 1), /longer/);
  refused('bad\ufffd', /Unicode/);
});

test('ordinary names pass, in NFC', () => {
  assert.equal(checkFileName('rapport final.pdf'), 'rapport final.pdf');
  assert.equal(checkFileName('日本語.txt'), '日本語.txt');
  assert.equal(checkFileName('Cafe\u0301.txt'), 'Café.txt');
  assert.equal(checkFileName('x'.repeat(maxNameBytes)), 'x'.repeat(maxNameBytes));
});
