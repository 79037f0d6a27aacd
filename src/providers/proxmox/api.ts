// A thin client for the Proxmox VE HTTP API over undici. PVE's envelope is
// uniform ({"data": …}, errors in the reason phrase), so a small wrapper gives
// better error typing than a generated SDK. Only calls that are safe to repeat
// (GET, and PUT of config) are retried on 5xx/transport errors; creates, clones
// and deletes are left to callers that can check what actually happened.
import { readFileSync } from 'node:fs';
import { Agent, fetch, type FormData } from 'undici';
import type { Logger } from '../../logger.ts';
import { backoff } from './backoff.ts';
import { PveApiError } from './errors.ts';

export interface PveClientOptions {
  host: string;
  port: number;
  tokenId: string;
  tokenSecret: string;
  caFile?: string;
  /** PEM text, as an alternative to caFile (tests). */
  ca?: string;
  /** Skip certificate verification for this client only (never process-wide). */
  insecure?: boolean;
  timeoutMs?: number;
  /** Attempts for safe calls. */
  retries?: number;
  logger?: Logger;
}

export type Params = Record<string, string | number | boolean | undefined | null>;

export interface CallOptions {
  signal?: AbortSignal;
  /** Retry on 5xx/transport errors; defaults to true for GET and PUT only. */
  retry?: boolean;
}

export class PveClient {
  readonly baseUrl: string;
  private readonly agent: Agent;
  private readonly auth: string;

  constructor(private readonly opts: PveClientOptions) {
    const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
    this.baseUrl = `https://${host}:${opts.port}/api2/json`;
    const ca = opts.ca ?? (opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined);
    this.agent = new Agent({
      connect: { ca, rejectUnauthorized: !opts.insecure },
      headersTimeout: opts.timeoutMs ?? 30_000,
      bodyTimeout: opts.timeoutMs ?? 30_000,
      connections: 16,
    });
    this.auth = `PVEAPIToken=${opts.tokenId}=${opts.tokenSecret}`;
  }

  get<T>(path: string, params?: Params, o?: CallOptions): Promise<T> {
    return this.call<T>('GET', path, params, o);
  }
  post<T>(path: string, params?: Params, o?: CallOptions): Promise<T> {
    return this.call<T>('POST', path, params, o);
  }
  put<T>(path: string, params?: Params, o?: CallOptions): Promise<T> {
    return this.call<T>('PUT', path, params, o);
  }
  delete<T>(path: string, params?: Params, o?: CallOptions): Promise<T> {
    return this.call<T>('DELETE', path, params, o);
  }

  /** Multipart upload (storage upload); never retried: the body is a stream. */
  async upload<T>(path: string, form: FormData, o?: CallOptions): Promise<T> {
    return this.once<T>('POST', path, undefined, o?.signal, form);
  }

  async call<T>(method: string, path: string, params?: Params, o: CallOptions = {}): Promise<T> {
    const retry = o.retry ?? (method === 'GET' || method === 'PUT');
    const attempts = retry ? (this.opts.retries ?? 4) : 1;
    const b = backoff(200, 3000);
    for (let i = 1; ; i++) {
      try {
        return await this.once<T>(method, path, params, o.signal);
      } catch (err) {
        const transient = err instanceof PveApiError && err.retryable && !/does not exist|already exists|locked/.test(err.reason);
        if (!transient || i >= attempts || o.signal?.aborted) throw err;
        this.opts.logger?.debug({ method, path, status: (err as PveApiError).status, attempt: i }, 'proxmox call failed, retrying');
        await b.wait(o.signal);
      }
    }
  }

  private async once<T>(method: string, path: string, params: Params | undefined, signal?: AbortSignal, form?: FormData): Promise<T> {
    const query = new URLSearchParams();
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v === undefined || v === null) continue;
      const s = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
      (method === 'GET' || method === 'DELETE' ? query : body).append(k, s);
    }
    const qs = query.toString();
    const url = `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(url, {
        method,
        dispatcher: this.agent,
        signal,
        headers: {
          authorization: this.auth,
          accept: 'application/json',
          ...(form || method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        body: form ?? (method === 'GET' || method === 'DELETE' ? undefined : body.toString()),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      // Transport failure: status 0, message without the URL's query (it may hold nothing secret, but keep logs short).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new PveApiError(method, path, 0, cause?.code ?? cause?.message ?? (err as Error).message, undefined, { cause: err });
    }
    const text = await res.text();
    let json: { data?: unknown; errors?: Record<string, string>; message?: string } = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      /* a proxy's HTML error page */
    }
    if (res.status >= 400) {
      // Older PVE only has the reason phrase; newer ones repeat it in `message`.
      const reason = (res.statusText || json.message || `HTTP ${res.status}`).trim();
      throw new PveApiError(method, path, res.status, reason, json.errors ?? undefined);
    }
    return json.data as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
