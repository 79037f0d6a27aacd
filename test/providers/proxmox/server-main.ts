// A Winux server process on the Proxmox provider, for the restart test: the
// simulator lives in the test process, this server talks to it over HTTPS and
// SSH like a real deployment, and the test SIGKILLs it mid-creation.
import { loadConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { startServer } from '../../../src/server.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel, process.stderr as never);
const tuning = JSON.parse(process.env.WINUX_TEST_PROXMOX_TUNING ?? '{}');
const provider = createProxmoxProvider(config, logger, tuning);
const server = await startServer({ config, provider, logger });
process.stdout.write(`${JSON.stringify({ url: server.url, adminToken: server.adminToken })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
