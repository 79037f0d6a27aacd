// A Winux server process around the file-backed fake provider, for crash tests:
// the test kills it (or it kills itself at FAKE_CRASH_AT) and starts it again.
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { CrashingProvider, type FakePoint } from './fake-provider.ts';

const provider = new CrashingProvider(process.env.FAKE_CRASH_AT as FakePoint | undefined, {
  stateFile: process.env.FAKE_STATE_FILE,
  stepDelayMs: Number(process.env.FAKE_STEP_MS ?? 20),
});
const config = loadConfig();
const server = await startServer({ config, provider, logger: createLogger(config.logLevel, process.stderr as never) });
process.stdout.write(`${JSON.stringify({ url: server.url, adminToken: server.adminToken })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
