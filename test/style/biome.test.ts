// Format and lint (Biome, configured in biome.json): the code stays in one
// style without anyone arguing about it. Fix with: npx biome check --write .
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');

test('biome check finds nothing to format or fix', () => {
  const biome = path.join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');
  const r = spawnSync(process.execPath, [biome, 'check', '--colors=off', '.'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`.split('\n').slice(0, 60).join('\n'));
});
