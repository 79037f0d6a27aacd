// A Winux server process for the hardening drills: the file-backed fake provider
// (so "containers" survive a SIGKILL of this process, as LXC ones would), with
// optional fault injection. The drill test kills it, restarts it on the same data
// dir, and audits the store and the machine file from outside.
import { loadConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/logger.ts';
import { startServer } from '../../../src/server.ts';
import { FailingProvider } from '../../support/fake-provider.ts';
import { mulberry32 } from '../../support/prng.ts';

const failCreateRate = Number(process.env.DRILL_FAIL_CREATE_RATE ?? 0);
const failDestroyRate = Number(process.env.DRILL_FAIL_DESTROY_RATE ?? 0);
const random = mulberry32(Number(process.env.DRILL_SEED ?? 1));

const destroyDelayMs = Number(process.env.DRILL_DESTROY_MS ?? 0);

/** Removing a real container takes a while: the SIGKILL drill needs deletions to be in flight. */
class DrillProvider extends FailingProvider {
  override async destroy(ref: Parameters<FailingProvider['destroy']>[0]): Promise<void> {
    if (destroyDelayMs) await new Promise((r) => setTimeout(r, destroyDelayMs));
    return super.destroy(ref);
  }
}

const provider = new DrillProvider({
  stateFile: process.env.FAKE_STATE_FILE,
  stepDelayMs: Number(process.env.FAKE_STEP_MS ?? 20),
  create: () => random() < failCreateRate,
  destroy: () => random() < failDestroyRate,
});
const config = loadConfig();
const server = await startServer({ config, provider, logger: createLogger(config.logLevel, process.stderr as never) });
process.stdout.write(`${JSON.stringify({ url: server.url, adminToken: server.adminToken })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
