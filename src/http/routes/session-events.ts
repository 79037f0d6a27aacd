// GET /sessions/{id}/events: the session as server-sent events, so the page
// shows "ready" the moment it is (polling every half second added 0.25 s on
// average to a cold start of about 1.5 s), like JupyterHub's spawn progress.
//
// Each event is the same JSON as GET /sessions/{id}, sent when the stream opens,
// whenever that session's status or creation step changes in this process, and
// on a slow re-read (another replica may have changed it). The stream ends after
// the session has ended. Same access rule as GET /sessions/{id}; EventSource
// sends the page's cookie.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WinuxError } from '../../core/errors.ts';
import { isEnded, type SessionRecord } from '../../core/session.ts';
import type { AppContext } from '../context.ts';
import { openEventStream } from '../event-stream.ts';
import { SessionIdParams, ErrorBody } from '../schemas.ts';

/** Re-read even without a local change: another replica (PostgreSQL) may have moved the session. */
const rereadMs = 5_000;
/** A comment line now and then keeps proxies from closing an idle stream. */
const keepaliveMs = 15_000;
/** Open streams one session may hold (a page needs one; a few tabs, a few more): each holds a connection and timers. */
export const maxStreamsPerSession = 8;

export interface SessionEventsOptions {
  /** Loads the session with the same access rule as GET /sessions/{id}; throws a WinuxError otherwise. */
  load(request: FastifyRequest, id: string): Promise<{ session: SessionRecord }>;
  /** The JSON GET /sessions/{id} answers for this session. */
  show(request: FastifyRequest, session: SessionRecord): unknown;
}

export function sessionEventRoutes(app: FastifyInstance, ctx: AppContext, o: SessionEventsOptions): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = ctx;
  /** The open streams of each session, as the functions that end them. */
  const open = new Map<string, Set<() => void>>();
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => {
    for (const ends of [...open.values()]) for (const end of [...ends]) end();
  });

  api.get(
    '/sessions/:id/events',
    {
      schema: {
        summary: 'The session as server-sent events (text/event-stream): one `session` event per change, until it ends',
        tags: ['sessions'],
        params: SessionIdParams,
        response: {
          200: Type.String({ description: 'text/event-stream; each `data:` line is the JSON of GET /sessions/{id}' }),
          204: Type.Null({ description: 'the session has ended and the client already has its last event (Last-Event-ID): stop reconnecting' }),
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      // Access is checked before anything is streamed, so refusals are ordinary JSON errors.
      const { session: first } = await o.load(request, id);
      // EventSource reconnects whenever a stream ends. When it comes back with the id of
      // the final event it already has, 204 tells it (per the SSE spec) to stop for good.
      if (isEnded(first.status) && request.headers['last-event-id'] === eventId(first)) return reply.code(204).send(null);
      if ((open.get(id)?.size ?? 0) >= maxStreamsPerSession) {
        throw new WinuxError(
          'rate_limited',
          429,
          `This session already has ${maxStreamsPerSession} open event streams (other tabs?). Close one and try again.`,
          { retry_after_seconds: 5 },
        );
      }
      stream(request, reply, id, first);
    },
  );

  function stream(request: FastifyRequest, reply: FastifyReply, id: string, first: SessionRecord): void {
    const res = openEventStream(reply);
    let lastKey = '';
    let ended = false;
    let busy: Promise<void> = Promise.resolve();

    const send = (session: SessionRecord) => {
      const key = eventId(session);
      if (key !== lastKey) {
        lastKey = key;
        res.write(`id: ${key}\nevent: session\ndata: ${JSON.stringify(o.show(request, session))}\n\n`);
      }
      if (isEnded(session.status)) end();
    };
    // One read at a time, in order: a burst of changes cannot reorder events.
    const refresh = () => {
      busy = busy.then(async () => {
        if (ended) return;
        try {
          const [session] = await service.list({ ids: [id] });
          if (!session) return end();
          send(session);
        } catch {
          // The store is briefly unavailable: the next change or re-read tries again.
        }
      });
    };
    const onSession = (changed: string) => {
      if (changed === id) refresh();
    };
    const reread = setInterval(refresh, rereadMs);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), keepaliveMs);
    function end() {
      if (ended) return;
      ended = true;
      clearInterval(reread);
      clearInterval(keepalive);
      service.off('session', onSession);
      const ends = open.get(id);
      ends?.delete(end);
      if (!ends?.size) open.delete(id);
      res.end();
    }
    open.set(id, (open.get(id) ?? new Set()).add(end));
    service.on('session', onSession);
    // The response's close, not the request's: a GET's request 'close' comes once it is read.
    res.on('close', end);
    // Tells EventSource how soon to reconnect after a dropped connection.
    res.write('retry: 1000\n\n');
    send(first);
    // A change between the access check and the listener would otherwise be missed.
    refresh();
  }
}

/** Changes whenever anything the page shows changes; sent as the event's id (EventSource's Last-Event-ID). */
function eventId(session: SessionRecord): string {
  return `${session.status}.${session.step}.${session.updatedAt}.${session.expiresAt}`;
}
