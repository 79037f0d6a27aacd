// A Winux server process on the Proxmox provider, for the restart test and the
// scale bench: the simulator lives in the parent process, this server talks to
// it over HTTPS and SSH like a real deployment. The restart test SIGKILLs it
// mid-creation. Started with an IPC channel (child_process.fork) and
// WINUX_TEST_REAPER=0, it runs no timers and does one pass when the parent asks
// (`{ id, pass: 'reaper' | 'reconcile' }`), answering with the pass's wall time
// and stats, and `{ id, memory: true }` with its own memory figures.
import { loadConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { startServer } from '../../../src/server.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel, process.stderr as never);
const tuning = JSON.parse(process.env.WINUX_TEST_PROXMOX_TUNING ?? '{}');
const provider = createProxmoxProvider(config, logger, tuning);
const server = await startServer({ config, provider, logger, reaper: process.env.WINUX_TEST_REAPER !== '0' });
process.stdout.write(`${JSON.stringify({ url: server.url, adminToken: server.adminToken })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));

interface Ask {
  id: number;
  pass?: 'reaper' | 'reconcile';
  memory?: boolean;
}

process.on('message', (ask: Ask) => {
  void (async () => {
    if (ask.memory) {
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed };
    }
    const started = performance.now();
    const stats = ask.pass === 'reconcile' ? await server.service.reconcile() : await server.reaper.runOnce({ reconcile: false });
    return { ms: performance.now() - started, stats };
  })().then(
    (answer) => process.send?.({ id: ask.id, ...answer }),
    (err: Error) => process.send?.({ id: ask.id, error: err.message }),
  );
});
