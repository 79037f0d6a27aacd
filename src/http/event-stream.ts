// The start of a server-sent events answer, shared by the session and console streams.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** Takes the answer from Fastify and sends the event-stream head; the caller writes the events and ends it. */
export function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // nginx (the seed's front) buffers answers unless told not to.
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  return res;
}
