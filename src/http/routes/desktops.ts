// The desktops this Winux offers (WINUX_DESKTOPS), for the page's choice and
// for API clients, with the picture of each taken when its template was built.
import { createReadStream, existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { desktopLabels, isDesktopName, screenshotFile } from '../../core/desktops.ts';
import { errors } from '../../core/errors.ts';
import type { Config } from '../../config.ts';
import { DesktopList } from '../schemas.ts';

const apiPrefix = '/api/winux';

/** What /desktops and /info say about the offered desktops. */
export function desktopChoice(config: Config) {
  return {
    default: config.defaultDesktop,
    desktops: config.desktops.map((name) => ({
      name,
      label: desktopLabels[name],
      screenshot: existsSync(screenshotFile(config.lxc.cacheDir, name)) ? `${apiPrefix}/desktops/${name}/screenshot.png` : null,
    })),
  };
}

export function desktopChoiceRoutes(app: FastifyInstance, config: Config): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/desktops',
    { schema: { summary: 'The desktops a session may run ("desktop" in POST /sessions)', tags: ['system'], response: { 200: DesktopList } } },
    async () => desktopChoice(config),
  );

  api.get(
    '/desktops/:name/screenshot.png',
    {
      schema: {
        summary: 'What a desktop looks like (taken from a session of its template when it was built)',
        tags: ['system'],
        params: Type.Object({ name: Type.String({ pattern: '^[a-z]{1,32}$' }) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const file = isDesktopName(name) && config.desktops.includes(name) ? screenshotFile(config.lxc.cacheDir, name) : undefined;
      if (!file || !existsSync(file)) throw errors.notFound('No picture of that desktop here.');
      // Not a secret: a shared cache may keep it a while (a rebuild replaces it).
      reply.header('cache-control', 'public, max-age=300');
      return reply.type('image/png').send(createReadStream(file));
    },
  );
}
