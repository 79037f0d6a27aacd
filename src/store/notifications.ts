// Session changes told to every replica at once: PostgreSQL NOTIFY on one channel, and
// one dedicated connection per process LISTENing to it (a pooled connection would be
// handed to other queries and lose the LISTEN). The listening connection comes back by
// itself after the server restarts; changes made while it was down reach the event
// streams through their periodic re-read. SQLite is one process: nothing to tell.
import { sql, type Kysely } from 'kysely';
import type { SessionChange } from '../core/store-port.ts';
import type { Database } from './schema.ts';

const channel = 'winux_sessions';
/** Reconnection waits, doubled from the first up to the last while the server stays away. */
const retryMs = { first: 250, max: 5_000 };

export interface Notifications {
  publish(db: Kysely<Database>, change: SessionChange): Promise<void>;
  subscribe(listener: (change: SessionChange) => void): () => void;
  close(): Promise<void>;
}

export const noNotifications: Notifications = {
  async publish() {},
  subscribe: () => () => {},
  async close() {},
};

type Pg = typeof import('pg').default;

export function pgNotifications(url: string, pg: Pg): Notifications {
  const listeners = new Set<(change: SessionChange) => void>();
  let client: InstanceType<Pg['Client']> | undefined;
  let connecting = false;
  let closed = false;
  let wait = retryMs.first;
  let retry: NodeJS.Timeout | undefined;

  const dispatch = (payload: string | undefined) => {
    let change: SessionChange;
    try {
      change = JSON.parse(payload ?? '') as SessionChange;
    } catch {
      return;
    }
    if (typeof change?.id !== 'string') return;
    for (const l of listeners) l(change);
  };

  const reconnectLater = () => {
    client = undefined;
    if (closed || retry || !listeners.size) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, wait);
    retry.unref();
    wait = Math.min(retryMs.max, wait * 2);
  };

  const connect = async () => {
    if (closed || client || connecting) return;
    connecting = true;
    const c = new pg.Client({ connectionString: url });
    // Errors (a restarted server) end this client: a fresh one is made after a pause.
    c.on('error', () => {});
    c.on('end', () => {
      if (client === c) reconnectLater();
    });
    c.on('notification', (msg) => {
      if (msg.channel === channel) dispatch(msg.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      if (closed) {
        await c.end().catch(() => {});
        return;
      }
      client = c;
      wait = retryMs.first;
    } catch {
      await c.end().catch(() => {});
      reconnectLater();
    } finally {
      connecting = false;
    }
  };

  return {
    async publish(db, change) {
      await sql`SELECT pg_notify(${channel}, ${JSON.stringify(change)})`.execute(db);
    },
    subscribe(listener) {
      listeners.add(listener);
      void connect();
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
