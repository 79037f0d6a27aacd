// Schemas of the console's routes (admin only); the OpenAPI document lists them under "admin".
import { Type } from 'typebox';
import { actors } from '../core/audit-port.ts';

const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });

export const SignInBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 512, description: 'the admin token; exchanged for the winux_admin cookie' }) },
  { additionalProperties: false },
);

export const SignInState = Type.Object({
  signed_in: Type.Boolean(),
  via: Type.Union([Type.Literal('cookie'), Type.Literal('token')]),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const AuditQuery = Type.Object(
  {
    session_id: Type.Optional(Type.String({ maxLength: 64 })),
    actor: Type.Optional(Type.Unsafe<(typeof actors)[number]>({ type: 'string', enum: [...actors] })),
    action: Type.Optional(Type.String({ pattern: '^[a-z_.]{1,64}$' })),
    outcome: Type.Optional(Type.Unsafe<'ok' | 'refused' | 'failed'>({ type: 'string', enum: ['ok', 'refused', 'failed'] })),
    address: Type.Optional(Type.String({ maxLength: 64 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    before: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'the next_before of the previous page' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1–1000 (default 100)' })),
    format: Type.Optional(
      Type.Unsafe<'json' | 'jsonl'>({ type: 'string', enum: ['json', 'jsonl'], description: 'jsonl: every matching row, one JSON object a line' }),
    ),
  },
  { additionalProperties: false },
);

export const AuditEntryJson = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  action: Type.String(),
  outcome: Type.String(),
  address: Type.Union([Type.String(), Type.Null()]),
  session_id: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
});

export const AuditPage = Type.Object({
  entries: Type.Array(AuditEntryJson),
  next_before: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as ?before= for the next (older) page; null at the end' }),
});

export const PoolBody = Type.Object({ size: Type.Integer({ minimum: 0, maximum: 1000 }) }, { additionalProperties: false });
export const PoolState = Loose('the pool: target size and members');

export const BlockBody = Type.Object(
  {
    network: Type.String({ minLength: 2, maxLength: 64, description: 'an IPv4 or IPv6 address or CIDR network' }),
    minutes: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 5_256_000 }), Type.Null()], { description: 'how long; null or absent: for good' })),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export const BlockIdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,12}$' }) }, { additionalProperties: false });
export const BlockJson = Type.Object({
  id: Type.Integer(),
  network: Type.String(),
  reason: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export const BlockList = Type.Object({ blocks: Type.Array(BlockJson) });

export const TemplatePanel = Loose('the recipe hash, the built copies (node, name, hash, age, archive size), whether a rebuild is offered, and its state');
export const OverviewQuery = Type.Object(
  { days: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$', description: 'days of usage charted (7 to WINUX_USAGE_DAYS; default 30)' })) },
  { additionalProperties: false },
);
export const Overview = Loose('sessions, capacity, host, pool, failures, abuse, usage');
export const BulkResult = Type.Object({ ended: Type.Integer(), sessions: Type.Array(Type.String()) });
