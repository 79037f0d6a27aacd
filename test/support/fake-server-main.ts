// A Winux server process around the file-backed fake provider, for crash tests:
// the test kills it (or it kills itself at FAKE_CRASH_AT) and starts it again.
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { FakeProvider } from './fake-provider.ts';

const crashAt = process.env.FAKE_CRASH_AT;
const provider = new FakeProvider({
  stateFile: process.env.FAKE_STATE_FILE,
  stepDelayMs: Number(process.env.FAKE_STEP_MS ?? 20),
  onPoint: (point) => {
    if (point === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
const config = loadConfig();
const server = await startServer({ config, provider, logger: createLogger(config.logLevel, process.stderr as never) });
process.stdout.write(JSON.stringify({ url: server.url, adminToken: server.adminToken }) + '\n');
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
