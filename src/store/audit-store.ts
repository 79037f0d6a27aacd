// The audit log in the database (implements core's AuditLog port).
import type { Kysely } from 'kysely';
import type { AuditEntry, AuditFilter, AuditLog, AuditRow, ActorKind, AuditOutcome } from '../core/audit-port.ts';
import { safeDetail } from '../core/audit-port.ts';
import type { Database } from './schema.ts';

export class AuditStore implements AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async record(e: AuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: e.at,
        actor: e.actor,
        action: e.action,
        outcome: e.outcome,
        address: e.address,
        session_id: e.sessionId,
        detail: JSON.stringify(safeDetail(e.detail)),
      })
      .execute();
  }

  async query(f: AuditFilter): Promise<AuditRow[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (f.sessionId) q = q.where('session_id', '=', f.sessionId);
    if (f.sessionIds) {
      if (!f.sessionIds.length) return [];
      q = q.where('session_id', 'in', [...f.sessionIds]);
    }
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.action) q = q.where('action', '=', f.action);
    if (f.outcome) q = q.where('outcome', '=', f.outcome);
    if (f.address) q = q.where('address', '=', f.address);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    if (f.until !== undefined) q = q.where('at', '<', f.until);
    if (f.before !== undefined) q = q.where('id', '<', f.before);
    const rows = await q.orderBy('id', 'desc').limit(f.limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor as ActorKind,
      action: r.action,
      outcome: r.outcome as AuditOutcome,
      address: r.address,
      sessionId: r.session_id,
      detail: JSON.parse(r.detail),
    }));
  }

  async purge(before: number): Promise<number> {
    const result = await this.db.deleteFrom('audit_log').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
