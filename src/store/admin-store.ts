// Console sign-ins, settings and blocks in the database (implements core's AdminStore port).
import type { Kysely } from 'kysely';
import type { AdminSignIn, AdminStore, Block } from '../core/admin-port.ts';
import type { Database } from './schema.ts';

export class AdminTables implements AdminStore {
  constructor(private readonly db: Kysely<Database>) {}

  async addSignIn(s: AdminSignIn): Promise<void> {
    await this.db
      .insertInto('admin_sign_ins')
      .values({ secret_hash: s.secretHash, created_at: s.createdAt, expires_at: s.expiresAt, address: s.address })
      .execute();
  }

  async findSignIn(secretHash: string, now: number): Promise<AdminSignIn | undefined> {
    const r = await this.db.selectFrom('admin_sign_ins').selectAll().where('secret_hash', '=', secretHash).where('expires_at', '>', now).executeTakeFirst();
    return r && { secretHash: r.secret_hash, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at), address: r.address };
  }

  async removeSignIn(secretHash: string): Promise<void> {
    await this.db.deleteFrom('admin_sign_ins').where('secret_hash', '=', secretHash).execute();
  }

  async purgeSignIns(now: number): Promise<number> {
    const result = await this.db.deleteFrom('admin_sign_ins').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async getSetting(key: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return r?.value;
  }

  async setSetting(key: string, value: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('settings').where('key', '=', key).execute();
      await trx.insertInto('settings').values({ key, value, updated_at: now }).execute();
    });
  }

  async addBlock(b: Omit<Block, 'id'>): Promise<Block> {
    const r = await this.db
      .insertInto('blocks')
      .values({ network: b.network, reason: b.reason, created_at: b.createdAt, expires_at: b.expiresAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...b, id: Number(r.id) };
  }

  async removeBlock(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('blocks').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async activeBlocks(now: number): Promise<Block[]> {
    const rows = await this.db
      .selectFrom('blocks')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      network: r.network,
      reason: r.reason,
      createdAt: Number(r.created_at),
      expiresAt: r.expires_at == null ? null : Number(r.expires_at),
    }));
  }
}
