// A share link's viewer: /winux/share/#<share_id>.<secret>. The secret stays in the
// fragment (never sent in a URL) and travels as a WebSocket subprotocol; the server
// enforces view-only, the page only shows it.
import { apiBase } from '../shared/api.ts';
import { wsUrl } from '../desktop/connection.ts';
import { startViewerPage } from '../desktop/viewer-page.ts';

// <share_id>.<secret>: split at the first dot; both must be valid in a subprotocol token.
const link = /^#([A-Za-z0-9_-]{1,128})\.([A-Za-z0-9_.~-]{8,512})$/.exec(location.hash);

startViewerPage({
  title: 'viewer.share',
  target: () =>
    link
      ? { url: wsUrl(`${apiBase(import.meta.url)}shares/${encodeURIComponent(link[1])}/desktop`), protocols: ['binary', `winux-share.${link[2]}`] }
      : { problem: 'viewer.badLink' },
  // A browser sees no HTTP status for a refused upgrade, and a link's viewer has no API to ask:
  // a link that never opened is refused (revoked, ended, or full); one that worked gets a few tries.
  diagnose: async (failures, everOpened) => (everOpened ? (failures > 4 ? 'denied' : 'retry') : failures > 1 ? 'denied' : 'retry'),
});
