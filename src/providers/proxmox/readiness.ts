// A desktop is ready when its RDP port accepts a TCP connection at the CT's
// address (xrdp listens only once the session manager is up).
import net from 'node:net';
import { pollUntil } from './backoff.ts';

export function portOpen(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function waitForPort(host: string, port: number, opts: { timeoutMs: number; pollMs: number; signal?: AbortSignal }): Promise<true> {
  return pollUntil(async () => ((await portOpen(host, port)) ? true : undefined), {
    timeoutMs: opts.timeoutMs,
    startMs: opts.pollMs,
    maxMs: Math.max(opts.pollMs, 1000),
    signal: opts.signal,
    what: `RDP on ${host}:${port}`,
  });
}
