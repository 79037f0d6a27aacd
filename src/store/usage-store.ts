// The daily usage rows (implements core's UsageHistory port): one row a day,
// rewritten while the day's sessions are kept, then left as the record.
import type { Kysely } from 'kysely';
import type { UsageDay, UsageHistory } from '../core/usage-days.ts';
import type { Database } from './schema.ts';

export class UsageStore implements UsageHistory {
  constructor(private readonly db: Kysely<Database>) {}

  async save(days: UsageDay[]): Promise<void> {
    if (!days.length) return;
    const rows = days.map((d) => ({
      day: d.day,
      sessions: d.sessions,
      desktop_seconds: d.desktopSeconds,
      failures: d.failures,
      median_ready_ms: d.medianReadySeconds === null ? null : Math.round(d.medianReadySeconds * 1000),
      p95_ready_ms: d.p95ReadySeconds === null ? null : Math.round(d.p95ReadySeconds * 1000),
    }));
    await this.db
      .insertInto('usage_days')
      .values(rows)
      .onConflict((oc) =>
        oc.column('day').doUpdateSet((eb) => ({
          sessions: eb.ref('excluded.sessions'),
          desktop_seconds: eb.ref('excluded.desktop_seconds'),
          failures: eb.ref('excluded.failures'),
          median_ready_ms: eb.ref('excluded.median_ready_ms'),
          p95_ready_ms: eb.ref('excluded.p95_ready_ms'),
        })),
      )
      .execute();
  }

  async since(fromDay: string): Promise<UsageDay[]> {
    const rows = await this.db.selectFrom('usage_days').selectAll().where('day', '>=', fromDay).orderBy('day').execute();
    return rows.map((r) => ({
      day: r.day,
      sessions: Number(r.sessions),
      desktopSeconds: Number(r.desktop_seconds),
      failures: Number(r.failures),
      medianReadySeconds: r.median_ready_ms === null ? null : Number(r.median_ready_ms) / 1000,
      p95ReadySeconds: r.p95_ready_ms === null ? null : Number(r.p95_ready_ms) / 1000,
    }));
  }

  async purge(beforeDay: string): Promise<number> {
    const result = await this.db.deleteFrom('usage_days').where('day', '<', beforeDay).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
