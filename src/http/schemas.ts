// A schema for every route's params, body and response; the OpenAPI document
// is generated from these.
import { Type } from 'typebox';
import { sessionIdPattern } from '../core/credentials.ts';
import { languages, type Language } from '../core/provider-port.ts';
import { creationSteps, statuses, type CreationStep, type SessionStatus } from '../core/session.ts';

const StatusEnum = Type.Unsafe<SessionStatus>({ type: 'string', enum: [...statuses] });
const StepEnum = Type.Unsafe<CreationStep>({ type: 'string', enum: [...creationSteps] });

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'machine-readable code, e.g. capacity_exhausted' }),
    message: Type.String({ description: 'what happened, for a person' }),
  },
  { additionalProperties: true, $id: 'Error' },
);

export const Session = Type.Object(
  {
    session_id: Type.String(),
    status: StatusEnum,
    step: StepEnum,
    container_id: Type.Integer(),
    node: nullable(Type.String()),
    ip: nullable(Type.String()),
    host: nullable(Type.String({ description: 'where an RDP client connects' })),
    port: nullable(Type.Integer()),
    certificate_sha256: nullable(
      Type.String({ description: "SHA-256 fingerprint of the desktop's RDP certificate (AB:CD:…), to compare with what the RDP client shows" }),
    ),
    username: Type.String(),
    password: Type.Optional(Type.String({ description: 'owner or admin only, while the session is live' })),
    created_at: Type.String({ format: 'date-time' }),
    ready_at: nullable(Type.String({ format: 'date-time' })),
    expires_at: Type.String({ format: 'date-time' }),
    ended_at: nullable(Type.String({ format: 'date-time' })),
    remaining_seconds: Type.Integer(),
    duration_minutes: Type.Integer(),
    max_expires_at: Type.String({ format: 'date-time' }),
    can_extend: Type.Boolean(),
    extend_minutes: Type.Integer({ description: 'minutes one extension adds by default (capped at max_expires_at)' }),
    server_time: Type.String({ format: 'date-time', description: "the server's clock when this was answered" }),
    error: nullable(Type.String()),
    pooled: Type.Boolean({ description: 'a warm-pool member not yet given to a visitor (admin lists only)' }),
    desktop: Type.String({ description: 'the desktop it runs: xfce, mate or lxqt (WINUX_DESKTOPS)' }),
  },
  { $id: 'Session' },
);

export const CreatedSession = Type.Intersect([
  Session,
  Type.Object({
    token: Type.String({ description: 'the session token: send it as Authorization: Bearer <token>. Shown once.' }),
  }),
]);

export const SessionIdParams = Type.Object(
  {
    id: Type.String({ pattern: sessionIdPattern, description: 'a session id, e.g. winux-abcdefgh2345' }),
  },
  { additionalProperties: false },
);

export const CreateBody = Type.Object(
  {
    duration_minutes: Type.Optional(Type.Integer({ minimum: 1, description: 'lifetime; default WINUX_SESSION_MINUTES, at most WINUX_MAX_SESSION_MINUTES' })),
    desktop: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'which desktop, among those WINUX_DESKTOPS enables (GET /desktops); default XFCE. Anything else: 400 unknown_desktop listing them',
      }),
    ),
    language: Type.Optional(
      Type.Unsafe<Language>({
        type: 'string',
        enum: [...languages],
        description: "the visitor's language: the desktop's locale and keyboard (fr: fr_FR.UTF-8 and azerty; en: en_US.UTF-8 and us qwerty); default fr",
      }),
    ),
  },
  { additionalProperties: false },
);

export const ExtendBody = Type.Object(
  {
    minutes: Type.Optional(Type.Integer({ minimum: 1, description: 'how much longer; default WINUX_SESSION_MINUTES' })),
  },
  { additionalProperties: false },
);

export const EmptyBody = Type.Object({}, { additionalProperties: false });

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Unsafe<SessionStatus | 'all'>({ type: 'string', enum: [...statuses, 'all'] })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$' })),
    pool: Type.Optional(
      Type.Unsafe<'true' | 'false'>({ type: 'string', enum: ['true', 'false'], description: "admin: list warm-pool members instead of visitors' sessions" }),
    ),
  },
  { additionalProperties: false },
);

export const SessionList = Type.Object({ sessions: Type.Array(Session) });

export const Capacity = Type.Object({
  max: Type.Integer(),
  in_use: Type.Integer(),
  free: Type.Integer(),
  next_free_at: nullable(Type.String({ format: 'date-time' })),
});

const CheckStatus = Type.Union([Type.Literal('ok'), Type.Literal('failing'), Type.Literal('unknown')]);
const HealthStatus = Type.Union([Type.Literal('ok'), Type.Literal('degraded')]);
const CheckCodes = Type.Array(Type.Object({ name: Type.String(), status: CheckStatus }));

/** What anyone sees: the status and each check's name and result, nothing about the infrastructure. */
export const PublicHealth = Type.Object({ status: HealthStatus, checks: CheckCodes }, { additionalProperties: false });

/** With the admin token: the details too. */
export const Health = Type.Object({
  status: HealthStatus,
  checks: CheckCodes,
  store: Type.Object({ ok: Type.Boolean(), detail: Type.String() }),
  provider: Type.Object({
    name: Type.String(),
    ok: Type.Boolean(),
    detail: Type.String(),
    checks: Type.Array(Type.Object({ name: Type.String(), status: CheckStatus, detail: Type.String() })),
  }),
  sessions: Type.Record(Type.String(), Type.Integer()),
  capacity: Capacity,
  uptime_seconds: Type.Integer(),
  version: Type.String(),
});

export const DesktopList = Type.Object({
  default: Type.String({ description: 'the desktop of a POST /sessions that names none' }),
  desktops: Type.Array(
    Type.Object({
      name: Type.String({ description: 'what "desktop" in POST /sessions takes, e.g. mate' }),
      label: Type.String(),
      screenshot: nullable(Type.String({ description: 'a PNG of the desktop, taken when its template was built; null when none was' })),
    }),
  ),
});

export const Info = Type.Object({
  session_minutes: Type.Integer(),
  max_session_minutes: Type.Integer(),
  estimated_ready_seconds: Type.Integer(),
  capacity: Capacity,
  provider: Type.String(),
  version: Type.String(),
  desktops: DesktopList,
});

export const CleanupResult = Type.Object({
  destroyed: Type.Integer({ description: 'expired sessions ended now' }),
  sessions: Type.Array(Type.String()),
});
