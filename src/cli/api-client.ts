// The CLI's way to a running server: its API, with the admin token from the
// data dir (or --token), so commands other than `serve` need no database access.
import type { Config } from '../config.ts';
import { readAdminToken } from '../admin-token.ts';

export interface ClientOptions {
  url?: string;
  token?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function createApiClient(config: Config, options: ClientOptions) {
  const base = (options.url ?? process.env.WINUX_URL ?? `http://${connectHost(config.host)}:${config.port || 5000}`).replace(/\/+$/, '');
  const token = options.token ?? readAdminToken(config) ?? config.adminToken;
  async function call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${base}/api/winux${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
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
