// The CLI's way to a running server: its API, with the admin token from the
// data dir (or --token), so commands other than `serve` need no database access.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, fetch, type Dispatcher } from 'undici';
import type { Config } from '../config.ts';
import { readAdminToken } from '../admin-token.ts';

export interface ClientOptions {
  url?: string;
  token?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function createApiClient(config: Config, options: ClientOptions) {
  const explicit = options.url ?? (process.env.WINUX_URL || undefined);
  const scheme = config.tls ? 'https' : 'http';
  const base = (explicit ?? `${scheme}://${connectHost(config.host)}:${config.port || 5000}`).replace(/\/+$/, '');
  // The local server's certificate is issued for its public name, not 127.0.0.1:
  // pinned to the configured file instead, which is as strict and needs no name.
  const dispatcher = !explicit && config.tls ? pinnedAgent(config.tls.certFile) : undefined;
  const token = options.token ?? readAdminToken(config) ?? config.adminToken;
  // biome-ignore lint/suspicious/noExplicitAny: the CLI prints whatever JSON the API answers; each command narrows it
  async function call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = (await fetch(`${base}/api/winux${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
      })) as unknown as Response;
    } catch (error) {
      const reason = String((error as { cause?: Error }).cause?.message ?? '');
      if (reason.includes('WINUX_TLS_CERT')) throw new ApiError(0, 'unreachable', `The server at ${base} answers, but ${reason}.`);
      throw new ApiError(0, 'unreachable', `No Winux server answers at ${base}. Start one with "winux serve", or pass --url.`);
    }
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (!res.ok && res.status !== 503) throw new ApiError(res.status, parsed?.error ?? 'error', parsed?.message ?? `HTTP ${res.status}`);
    return parsed as T;
  }
  return { base, hasToken: Boolean(token), call };
}

function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Accepts only the certificate in `certFile` (read at each connection: renewals apply at once). */
function pinnedAgent(certFile: string): Dispatcher {
  const connect = buildConnector({ rejectUnauthorized: false });
  return new Agent({
    connect(opts, callback) {
      connect(opts, (error, socket) => {
        if (error || !socket) return callback(error ?? new Error('no socket'), null);
        const served = (socket as TLSSocket).getPeerX509Certificate?.()?.fingerprint256;
        let expected: string | undefined;
        try {
          expected = new X509Certificate(readFileSync(certFile)).fingerprint256;
        } catch {
          /* reported below */
        }
        if (!served || served !== expected) {
          socket.destroy();
          return callback(new Error(`the server's certificate is not the one in WINUX_TLS_CERT (${certFile})`), null);
        }
        callback(null, socket);
      });
    },
  });
}
