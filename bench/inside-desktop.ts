// What issue 16 costs, on real LXC sessions (run under the LXC lock):
//   - a warm-pool claim in the pool's own language (fr: the keyboard set again,
//     nothing restarted) against one in the other (en: setxkbmap, and the XFCE
//     session restarted inside the running Xvnc so apps start in English):
//     POST → ready (the claim includes the switch) and until the new panel runs;
//   - pushing the end time into the desktop (an extension): POST /extend;
//   - a 50 MB upload streamed into the desktop: seconds and the server's RSS growth.
//
//   node --import tsx bench/inside-desktop.ts [--runs 3]   (takes the LXC lock itself)
import { randomBytes } from 'node:crypto';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { silentLogger } from '../src/logger.ts';
import { startTestServer, waitFor, waitForReady } from '../test/support/server.ts';
import { desktopBenchRange, prepareHost, underLxcLock } from './lxc-support.ts';

underLxcLock();

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 3;
// Its own ids and ports (30991–30994), no visitor limits, one warm-pool member.
const { env, config, cleanAll } = desktopBenchRange(30991, 34991, 4, { WINUX_POOL_SIZE: '1' });
const api = '/api/winux';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await prepareHost(config);
const server = await startTestServer({ provider: createLxcProvider(config, silentLogger), env });
const claims: Record<'fr' | 'en', number[]> = { fr: [], en: [] };
const extends_: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    for (const language of ['fr', 'en'] as const) {
      await waitFor(async () => (await server.service.list({ pooled: true, statuses: ['ready'] }))[0], 300_000, 'a ready pool member');
      const t0 = performance.now();
      const r = await server.request('POST', `${api}/sessions`, { body: { language } });
      const s = await waitForReady(server, r.body.session_id, r.body.token, 240_000);
      claims[language].push(performance.now() - t0);
      const e0 = performance.now();
      await server.request('POST', `${api}/sessions/${s.session_id}/extend`, { token: r.body.token, body: { minutes: 5 } });
      extends_.push(performance.now() - e0);
      if (i === runs - 1 && language === 'en') {
        const bytes = 50 * 1024 * 1024;
        let left = bytes;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            if (!left) return c.close();
            const chunk = randomBytes(Math.min(left, 256 * 1024));
            left -= chunk.length;
            c.enqueue(chunk);
          },
        });
        const base = process.memoryUsage().rss;
        let peak = base;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
        const u0 = performance.now();
        await fetch(`${server.url}${api}/sessions/${s.session_id}/files?name=bench.bin`, {
          method: 'POST',
          headers: { authorization: `Bearer ${r.body.token}`, 'content-type': 'application/octet-stream' },
          body,
          duplex: 'half',
        } as RequestInit);
        clearInterval(sampler);
        console.log(
          `upload 50 MB: ${((performance.now() - u0) / 1000).toFixed(1)} s, RSS growth of this process (sender and server) ${((peak - base) / 1048576).toFixed(1)} MB`,
        );
      }
      await server.service.destroy(s.session_id, 'bench', { wait: true });
    }
  }
  const f = (xs: number[]) => `p50 ${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
  console.log(`claim in the pool's language (fr): POST → ready ${f(claims.fr)}`);
  console.log(`claim switched to en (setxkbmap + XFCE session restarted in the running Xvnc): POST → ready ${f(claims.en)}`);
  console.log(`extend (the end time pushed into the desktop): ${f(extends_)}`);
} finally {
  await server.close();
  // The pool member left when the server stopped: nothing of the bench stays on the host.
  await cleanAll();
}
