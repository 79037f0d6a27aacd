// A real logger (the server's pino setup) whose output the test keeps, to assert
// what was logged and, above all, what never was.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.ts';

/** `lines` holds every chunk the logger wrote (one JSON line each), in order. */
export function captureLogs(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
