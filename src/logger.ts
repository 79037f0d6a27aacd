// Structured logs (pino), object first. Secrets are redacted by path so that a
// careless `log.info({ spec })` still never prints a password or token.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const redactedPaths = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  '*.*.token',
  // Config objects nest these one level deeper (`{ config: { proxmox: { tokenSecret } } }`).
  'tokenSecret',
  '*.tokenSecret',
  '*.*.tokenSecret',
  'adminToken',
  '*.adminToken',
  '*.*.adminToken',
  'sshPrivateKey',
  '*.sshPrivateKey',
  '*.*.sshPrivateKey',
  'privateKey',
  '*.privateKey',
  '*.*.privateKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(level: string = 'info', destination?: DestinationStream): Logger {
  // Synchronous writes to stdout: pino's default buffers and flushes at exit, and
  // that flush retries a write to a closed stdout forever (sonic-boom loops on
  // EPIPE): a server whose supervisor or terminal went away then never exited on
  // SIGTERM. Written at once, an EPIPE makes pino stop logging and nothing hangs.
  // One line per request costs one write(2); Winux logs little.
  return pino(
    {
      level,
      base: { service: 'winux' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything (tests that do not inspect logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
