// Structured logs (pino), object first. Secrets are redacted by path so that a
// careless `log.info({ spec })` still never prints a password or token.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const redactedPaths = [
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  // Config objects nest these one level deeper (`{ config: { proxmox: { tokenSecret } } }`).
  'tokenSecret', '*.tokenSecret', '*.*.tokenSecret', 'adminToken', '*.adminToken', '*.*.adminToken',
  'sshPrivateKey', '*.sshPrivateKey', '*.*.sshPrivateKey', 'privateKey', '*.privateKey', '*.*.privateKey',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie',
];

export function createLogger(level: string = 'info', destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'winux' },
    redact: { paths: redactedPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, destination);
}

/** A logger that drops everything (tests that do not inspect logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
