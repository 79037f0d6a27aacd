// Files in and out of a session's desktop: upload into ~/Téléchargements
// (~/Downloads), list and download ~/Partage (~/Share), one file or the folder
// as a zip. Owner and admin only (loadAccessible: a foreign token gets the
// answer an unknown id gets), audited. The bodies are streams end to end: the
// request's body goes to the provider as it arrives (a raw
// application/octet-stream body, so progress is the browser's own upload
// progress), a download is the provider's stream; nothing is held whole here.
import { Readable, Transform } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errors, WinuxError } from '../../core/errors.ts';
import { checkFileName } from '../../core/file-names.ts';
import type { DesktopFiles, ProviderRef } from '../../core/provider-port.ts';
import type { SessionRecord } from '../../core/session.ts';
import { requireCsrfSafe } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { loadAccessible } from '../session-access.ts';
import { ErrorBody, SessionIdParams } from '../schemas.ts';
import { actorOf } from './sessions.ts';

const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  501: ErrorBody,
  507: ErrorBody,
};

const SharedFile = Type.Object({
  name: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  modified_at: Type.String({ format: 'date-time' }),
});
const FileList = Type.Object({
  files: Type.Array(SharedFile, { description: "the regular files of the desktop's ~/Partage (~/Share) folder" }),
  max_upload_bytes: Type.Integer({ description: 'WINUX_UPLOAD_MAX_MB, in bytes' }),
});
const Uploaded = Type.Object({
  name: Type.String({ description: 'the name it got in ~/Téléchargements (~/Downloads): the one asked, or "name (1).ext" when taken' }),
  size: Type.Integer({ minimum: 0 }),
});
const UploadQuery = Type.Object({
  name: Type.String({ description: 'the file name (refused: paths, hidden, control or invisible characters, over 200 bytes)' }),
});
/** A streamed body (never serialised): described for the OpenAPI document only. */
const Download = (what: string) => Type.Unsafe<Readable>({ description: what });
const FileParams = Type.Object({ id: SessionIdParams.properties.id, name: Type.String() });

const refOf = (session: SessionRecord): ProviderRef => ({ ...(session.providerRef ?? {}), containerId: session.containerId });

/** A Content-Disposition that survives any name: ASCII fallback plus RFC 5987's UTF-8 form. */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Counts bytes through, failing with 413 past `max` (so a body without Content-Length is limited too). */
function limitBytes(max: number): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      t.bytes += chunk.length;
      if (t.bytes > max) done(tooLarge(max));
      else done(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

const tooLarge = (max: number) =>
  new WinuxError('too_large', 413, `A file may carry at most ${Math.floor(max / 1024 / 1024)} MiB (WINUX_UPLOAD_MAX_MB).`, { max_bytes: max });

export function fileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { service, config } = ctx;

  /** The session if the caller may use it, it is ready, and its provider moves files. */
  async function ready(
    request: FastifyRequest,
    id: string,
  ): Promise<{ files: DesktopFiles; session: SessionRecord; who: Awaited<ReturnType<typeof loadAccessible>>['who'] }> {
    const { who, session } = await loadAccessible(ctx, request, id);
    const files = service.desktopFiles;
    if (!files) throw new WinuxError('not_supported', 501, `The ${service.providerName} provider does not move files in and out of desktops.`);
    if (session.status !== 'ready') throw errors.conflict(`This session is ${session.status}; files can be sent once it is ready.`);
    return { files, session, who };
  }

  app.register(async (scope) => {
    // The body stays a stream: no parser reads it (and bodyLimit, which applies to parsed bodies, does not cap it: limitBytes does).
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();

    api.post(
      '/sessions/:id/files',
      {
        schema: {
          summary: "Send a file into the desktop's ~/Téléchargements (~/Downloads)",
          description:
            'The body is the file (Content-Type: application/octet-stream), streamed into the desktop as the desktop user; an existing name is never overwritten.',
          tags: ['files'],
          params: SessionIdParams,
          querystring: UploadQuery,
          response: { 201: Uploaded, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { files, session, who } = await ready(request, request.params.id);
        requireCsrfSafe(request, who);
        const name = checkFileName(request.query.name);
        const body = request.body;
        if (!(body instanceof Readable))
          throw new WinuxError('unsupported_media_type', 415, 'Send the file as the body, with Content-Type: application/octet-stream.');
        const declared = Number(request.headers['content-length']);
        if (declared > config.uploadMaxBytes) throw tooLarge(config.uploadMaxBytes);
        const counted = limitBytes(config.uploadMaxBytes);
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete) abort.abort();
        });
        const actor = actorOf(request, who);
        try {
          const given = await files.put(refOf(session), name, body.pipe(counted), abort.signal);
          await service.audit('file.upload', { actor, sessionId: session.id, detail: { name: given, bytes: counted.bytes } });
          return reply.code(201).send({ name: given, size: counted.bytes });
        } catch (error) {
          await service.audit('file.upload', { actor, sessionId: session.id, outcome: 'refused', detail: { name, bytes: counted.bytes } });
          // The rest of a refused body is drained, so the client reads the answer instead of a reset.
          body.unpipe(counted);
          body.resume();
          throw error;
        }
      },
    );
  });

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/sessions/:id/files',
    {
      schema: {
        summary: "The files of the desktop's ~/Partage (~/Share) folder",
        tags: ['files'],
        params: SessionIdParams,
        response: { 200: FileList, ...errorResponses },
      },
    },
    async (request) => {
      const { files, session } = await ready(request, request.params.id);
      const list = await files.list(refOf(session));
      return {
        files: list.map((f) => ({ name: f.name, size: f.size, modified_at: new Date(f.modifiedAt).toISOString() })),
        max_upload_bytes: config.uploadMaxBytes,
      };
    },
  );

  api.get(
    '/sessions/:id/files.zip',
    {
      compress: false,
      schema: {
        summary: 'The whole ~/Partage (~/Share) folder as a zip',
        tags: ['files'],
        params: SessionIdParams,
        response: { 200: Download('application/zip'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { files, session, who } = await ready(request, request.params.id);
      if ((await files.list(refOf(session))).length === 0) throw errors.notFound('The share folder is empty.');
      await service.audit('file.download', { actor: actorOf(request, who), sessionId: session.id, detail: { zip: true } });
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      const stream = await files.get(refOf(session), null, abort.signal);
      return reply
        .type('application/zip')
        .header('content-disposition', attachment(`${session.id}.zip`))
        .send(stream);
    },
  );

  api.get(
    '/sessions/:id/files/:name',
    {
      compress: false,
      schema: { summary: 'One file of ~/Partage (~/Share)', tags: ['files'], params: FileParams, response: { 200: Download('the file'), ...errorResponses } },
    },
    async (request, reply) => {
      const { files, session, who } = await ready(request, request.params.id);
      const name = checkFileName(request.params.name);
      const found = (await files.list(refOf(session))).find((f) => f.name === name);
      if (!found) throw errors.notFound(`No file named "${name}" in the share folder.`);
      await service.audit('file.download', { actor: actorOf(request, who), sessionId: session.id, detail: { name, bytes: found.size } });
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      const stream = await files.get(refOf(session), name, abort.signal);
      return reply.type('application/octet-stream').header('content-length', String(found.size)).header('content-disposition', attachment(name)).send(stream);
    },
  );
}
