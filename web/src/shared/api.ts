// The one way the pages talk to /api/winux: same-origin cookies, never cached, and
// the X-Requested-With header the server requires of browser requests.

/** A failed API call: HTTP status (0 when the server could not be reached), the server's code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message = '',
    readonly data: Record<string, unknown> = {},
    readonly retryAfter = 0,
  ) {
    super(message || code);
  }

  /** The server could not be reached or is briefly unavailable: the same call may succeed later. */
  get retryable(): boolean {
    return this.code === 'unreachable' || this.code === 'unavailable';
  }
}

export type ApiCall = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<T>;

/** The API's base path, relative to the page: a page at /winux/ or /winux/admin/ both reach /api/winux/. */
export function apiBase(pageUrl: string, relative = '../api/winux/'): string {
  return new URL(relative, pageUrl).pathname;
}

/** A JSON client for one base path. */
export function createApi(base: string): ApiCall {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { 'X-Requested-With': 'winux', Accept: 'application/json' };
    const init: RequestInit = { method, credentials: 'same-origin', cache: 'no-store', headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(base + path, init);
    } catch {
      throw new ApiError(0, 'unreachable');
    }
    let data: Record<string, unknown> | null = null;
    try {
      data = await res.json();
    } catch {
      /* not JSON: a proxy page or an empty body */
    }
    if (res.ok) return (data ?? {}) as T;
    const code = typeof data?.error === 'string' ? data.error : res.status >= 500 ? 'unreachable' : `http_${res.status}`;
    const retryAfter = Number(res.headers.get('Retry-After')) || Number(data?.retry_after_seconds) || 0;
    throw new ApiError(res.status, code, typeof data?.message === 'string' ? data.message : '', data ?? {}, retryAfter);
  };
}
