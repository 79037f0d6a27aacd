// The admin's view-only viewer: /winux/view/?session=<id>, signed in by the admin
// console's HttpOnly cookie. The server makes the admin's stream view-only anyway.
import { ApiError, apiBase, createApi } from '../shared/api.ts';
import { wsUrl } from '../desktop/connection.ts';
import { startViewerPage } from '../desktop/viewer-page.ts';

const API = apiBase(import.meta.url);
const api = createApi(API);
const id = new URLSearchParams(location.search).get('session') ?? '';
const valid = /^[A-Za-z0-9_-]{1,64}$/.test(id);

startViewerPage({
  title: 'viewer.admin',
  target: () =>
    valid ? { url: wsUrl(`${API}sessions/${encodeURIComponent(id)}/desktop?view_only=1`), protocols: ['binary'] } : { problem: 'viewer.noSession' },
  // The admin can ask the API what became of the session.
  diagnose: async () => {
    try {
      const s = await api<{ status: string }>('GET', `sessions/${encodeURIComponent(id)}`);
      return s.status === 'ready' ? 'retry' : 'session_ended';
    } catch (e) {
      if (!(e instanceof ApiError) || e.retryable) return 'retry';
      if (e.status === 401 || e.status === 403) return 'forbidden';
      return 'session_ended';
    }
  },
});
