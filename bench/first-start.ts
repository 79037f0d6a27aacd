// What the first-desktop check costs `winux serve`: the check itself (a
// throwaway desktop started, its RDP endpoint answering, removed), run several
// times, and a later start that skips it. Prints figures; asserts nothing.
// Run: node --import tsx bench/first-start.ts [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { proveFirstDesktop, provenFor } from '../src/cli/first-desktop.ts';
import { silentLogger } from '../src/logger.ts';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { templateState } from '../src/providers/lxc/template.ts';
import { lxcConfig, prepareHost } from './lxc-support.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Number(args.runs));
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'winux-bench-first-'));
const config = lxcConfig({ WINUX_DATA_DIR: dataDir, WINUX_CONTAINER_ID_MIN: '30951', WINUX_CONTAINER_ID_MAX: '30952' });
const provider = createLxcProvider(config, silentLogger);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

await prepareHost(config);
try {
  const { hash } = await templateState(config);
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const proof = await proveFirstDesktop(config, provider, hash);
    seconds.push(proof.seconds);
    console.log(`  check ${i + 1}: ${proof.seconds.toFixed(2)} s (start, RDP answers, removed)`);
  }
  const t0 = performance.now();
  const skipped = provenFor(config, provider.name, hash) !== null;
  const skipMs = performance.now() - t0;
  console.log(`first-desktop check: p50 ${median(seconds).toFixed(2)} s, max ${Math.max(...seconds).toFixed(2)} s over ${runs} runs`);
  console.log(`later starts: ${skipped ? 'skip it' : 'DO NOT skip it'} (${skipMs.toFixed(2)} ms to read the stamp, plus the recipe hash)`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
