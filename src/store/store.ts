// The session store: implements the core's Store port (core/store-port.ts) with
// Kysely over SQLite (default, a file in the data dir) or PostgreSQL (several
// replicas). Every state change is a conditional UPDATE ("move from these statuses
// to that one"), so two actors never both act on the same transition. A database
// outage leaves here as the core's StoreUnavailableError, never as a driver's error.
// What each method promises (what it returns, when it is a no-op) is said once, in
// the port; the comments here say only how this store keeps the promise.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defaultDesktop } from '../core/desktops.ts';
import { defaultLanguage } from '../core/languages.ts';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { StoreUnavailableError } from '../core/errors.ts';
import type { SessionRecord, SessionStatus, CreationStep } from '../core/session.ts';
import { runningStatuses, unendedStatuses } from '../core/session.ts';
import type {
  AllocationRefusal,
  AllocationRules,
  Claimant,
  MoveGuard,
  NewSession,
  OwnedWork,
  SessionChange,
  SessionFilter,
  SessionPatch,
  SessionStore,
} from '../core/store-port.ts';
import type { ShareRecord, ShareStore } from '../core/share-port.ts';
import type { Database, SessionsTable, SharesTable } from './schema.ts';
import { migrationProvider } from './migrations.ts';
import type { AdminStore } from '../core/admin-port.ts';
import type { AuditLog } from '../core/audit-port.ts';
import { AdminTables } from './admin-store.ts';
import { AuditStore } from './audit-store.ts';
import type { UsageHistory } from '../core/usage-days.ts';
import { UsageStore } from './usage-store.ts';
import { noSecretBox, secretBox, type SecretBox } from './secret-box.ts';
import { noNotifications, pgNotifications, type Notifications } from './notifications.ts';

/**
 * A port method's parameters and result, for the methods whose signature is too long
 * for one line: taken from the port rather than restated (a class method's parameters
 * get no types from `implements`).
 */
type StoreMethod = { [K in keyof SessionStore]: SessionStore[K] extends (...args: never[]) => unknown ? K : never }[keyof SessionStore];
type In<M extends StoreMethod> = Parameters<SessionStore[M]>;
type Out<M extends StoreMethod> = ReturnType<SessionStore[M]>;

export class Store implements SessionStore, ShareStore {
  /** The audit log and the console's tables, on the same database (and outages translated the same way). */
  readonly audit: AuditLog;
  readonly admin: AdminStore;
  /** Daily usage rows for the console's charts. */
  readonly usage: UsageHistory;
  private box: SecretBox = noSecretBox;
  /** See SessionStore.shared: PostgreSQL may have several replicas, SQLite has one process. */
  readonly shared: boolean;

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
    private readonly notifications: Notifications = noNotifications,
  ) {
    this.audit = translatingOutages(new AuditStore(db));
    this.admin = translatingOutages(new AdminTables(db));
    this.shared = dialect === 'postgres';
    this.usage = translatingOutages(new UsageStore(db));
  }

  /**
   * Opens (creating if needed) the database at `url` and brings its schema up to date.
   * `secretKey` encrypts session passwords (src/secret-key.ts); rows written in clear
   * before are sealed now. Without it (winux doctor) passwords are neither read nor written.
   */
  static async open(url: string, options: { secretKey?: Buffer } = {}): Promise<Store> {
    const store = url.startsWith('postgres') ? Store.openPostgres(url) : await Store.openSqlite(url);
    await store.migrate();
    if (options.secretKey) {
      store.box = secretBox(options.secretKey);
      await store.sealPasswords().catch(async (error) => {
        await store.close();
        throw error;
      });
    }
    return translatingOutages(store);
  }

  /**
   * Encrypts passwords still stored in clear (written before encryption existed), and
   * checks that the key opens the ones already sealed: a replica or a restore with
   * another secret.key stops here, not at the first visitor's login.
   */
  private async sealPasswords(): Promise<void> {
    // Only live sessions matter: an ended one's password is shown nowhere (and a rotated key cannot open it).
    const sealedOne = await this.db
      .selectFrom('sessions')
      .select('password')
      .where('password', 'like', 'enc:v1:%')
      .where('status', 'in', [...unendedStatuses])
      .limit(1)
      .executeTakeFirst();
    if (sealedOne) this.box.open(sealedOne.password);
    const clear = await this.db.selectFrom('sessions').select(['id', 'password']).where('password', 'not like', 'enc:v1:%').execute();
    for (const row of clear) {
      await this.db
        .updateTable('sessions')
        .set({ password: this.box.seal(row.password) })
        .where('id', '=', row.id)
        .where('password', '=', row.password)
        .execute();
    }
  }

  private static async openSqlite(url: string): Promise<Store> {
    const file = url.replace(/^sqlite:/, '');
    const { default: SQLite } = await import('better-sqlite3');
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const database = new SQLite(file);
    // WAL lets readers (the CLI, health checks) work while the server writes;
    // a busy timeout rides out short locks instead of failing requests.
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('synchronous = NORMAL');
    // Freed space is zeroed: a password sealed in place (rows from before encryption) leaves no clear copy behind.
    database.pragma('secure_delete = ON');
    return new Store(new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), 'sqlite');
  }

  private static openPostgres(url: string): Store {
    // Loaded lazily: SQLite users never need the pg driver's start-up cost.
    const pg = requirePg();
    // BIGINT columns hold epoch milliseconds, well inside Number's exact range.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle connection ended by the server (restart, failover, admin) is reported here;
    // without a listener Node treats it as uncaught and the whole process dies. The pool
    // has already dropped that client; the next query opens a fresh connection.
    pool.on('error', () => {});
    // The same for a connection checked out but between two statements (inside a transaction,
    // or acquired and not yet queried): pg emits its 'error' on the client, which the pool
    // listens to only while idle, so a restarting server would kill the process. The next
    // statement on that client fails instead (an outage, below), and the pool drops it.
    pool.on('connect', (client) => client.on('error', () => {}));
    return new Store(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres', pgNotifications(url, pg));
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
  }

  async close(): Promise<void> {
    await this.notifications.close();
    await this.db.destroy();
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  async checkWritable(now: number): Promise<void> {
    await this.db.updateTable('health_probe').set({ checked_at: now }).where('id', '=', 1).execute();
  }

  /**
   * Capacity, the visitor's limit and id choice are decided in one transaction
   * (serialised: SQLite has one writer, PostgreSQL takes an advisory lock), and the
   * partial unique index rejects a held id twice whatever happens.
   */
  async insertWithContainer(session: NewSession, rules: AllocationRules): Promise<SessionRecord | AllocationRefusal> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(73019)`.execute(trx);
      const held = await trx.selectFrom('sessions').select('container_id').where('holds_container', '=', 1).execute();
      if (held.length >= rules.maxSessions) return { refused: 'capacity' as const };
      const reserved = await trx.selectFrom('reserved_ids').select('container_id').where('until', '>', session.createdAt).execute();
      if (rules.perVisitor > 0 && !session.pooled) {
        const mine = await trx
          .selectFrom('sessions')
          .select(sql<number>`count(*)`.as('n'))
          .where('visitor', '=', session.visitor)
          .where('status', 'in', [...runningStatuses])
          .executeTakeFirstOrThrow();
        if (Number(mine.n) >= rules.perVisitor) return { refused: 'visitor_limit' as const };
      }
      if (rules.perAddress && !session.pooled && session.clientAddress) {
        if ((await countAtAddress(trx, session.clientAddress)) >= rules.perAddress) return { refused: 'address_limit' as const };
      }
      const containerId = lowestFree(
        [...held, ...reserved].map((r) => Number(r.container_id)),
        rules.idMin,
        rules.idMax,
      );
      if (containerId === undefined) return { refused: 'capacity' as const };
      const record: SessionRecord = {
        ...session,
        clientAddress: session.clientAddress ?? '',
        desktop: session.desktop ?? defaultDesktop,
        language: session.language ?? defaultLanguage,
        containerId,
        holdsContainer: true,
        statusChangedAt: session.createdAt,
        cleanupAttempts: 0,
        updatedAt: session.createdAt,
        owner: session.owner ?? null,
        leaseUntil: session.leaseUntil ?? null,
      };
      await trx.insertInto('sessions').values(toRow(record, this.box)).execute();
      return record;
    });
  }

  /** Setting aside and moving are one transaction, under the same lock as insertWithContainer. */
  async moveToAnotherId(...[id, containerId, reason, until, rules, now]: In<'moveToAnotherId'>): Out<'moveToAnotherId'> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(73019)`.execute(trx);
      await trx.deleteFrom('reserved_ids').where('container_id', '=', containerId).execute();
      await trx.insertInto('reserved_ids').values({ container_id: containerId, reason, until }).execute();
      const held = await trx.selectFrom('sessions').select('container_id').where('holds_container', '=', 1).where('id', '!=', id).execute();
      const reserved = await trx.selectFrom('reserved_ids').select('container_id').where('until', '>', now).execute();
      const next = lowestFree(
        [...held, ...reserved].map((r) => Number(r.container_id)),
        rules.idMin,
        rules.idMax,
      );
      if (next === undefined) return undefined;
      await trx.updateTable('sessions').set({ container_id: next, provider_ref: null, updated_at: now }).where('id', '=', id).execute();
      const row = await trx.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return fromRow(row, this.box);
    });
  }

  async setAside(containerId: number, reason: string, until: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('reserved_ids').where('container_id', '=', containerId).execute();
      await trx.insertInto('reserved_ids').values({ container_id: containerId, reason, until }).execute();
    });
  }

  async release(containerId: number): Promise<void> {
    await this.db.deleteFrom('reserved_ids').where('container_id', '=', containerId).execute();
  }

  async peekPooledReady(...[desktop, language]: In<'peekPooledReady'>): Out<'peekPooledReady'> {
    const row = await this.db
      .selectFrom('sessions')
      .select('id')
      .where('pooled', '=', 1)
      .where('desktop', '=', desktop)
      .where('status', '=', 'ready')
      // A member already in the visitor's language first: no switch at claim.
      .orderBy(sql`CASE WHEN language = ${language} THEN 0 ELSE 1 END`)
      .orderBy('ready_at')
      .limit(1)
      .executeTakeFirst();
    return row?.id;
  }

  /** The limits and the claim are one transaction; the UPDATE's `pooled = 1` lets only one claim win. */
  async claimPooled(id: string, claimant: Claimant, patch: SessionPatch, now: number): Promise<SessionRecord | AllocationRefusal | undefined> {
    const { visitor, perVisitor, perAddress, clientAddress } = claimant;
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(73019)`.execute(trx);
      if (perAddress > 0 && clientAddress && (await countAtAddress(trx, clientAddress)) >= perAddress) return { refused: 'address_limit' as const };
      if (perVisitor > 0) {
        const mine = await trx
          .selectFrom('sessions')
          .select(sql<number>`count(*)`.as('n'))
          .where('visitor', '=', visitor)
          .where('status', 'in', [...runningStatuses])
          .executeTakeFirstOrThrow();
        if (Number(mine.n) >= perVisitor) return { refused: 'visitor_limit' as const };
      }
      const result = await trx
        .updateTable('sessions')
        .set({ ...toRowPatch(patch, this.box), pooled: 0, visitor, client_address: clientAddress, updated_at: now })
        .where('id', '=', id)
        .where('pooled', '=', 1)
        .where('status', '=', 'ready')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      const row = await trx.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return fromRow(row, this.box);
    });
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row, this.box);
  }

  async list(filter: SessionFilter = {}): Promise<SessionRecord[]> {
    let q = this.db.selectFrom('sessions').selectAll();
    if (filter.statuses) q = q.where('status', 'in', [...filter.statuses]);
    if (filter.visitor !== undefined) q = q.where('visitor', '=', filter.visitor);
    if (filter.ids) {
      if (filter.ids.length === 0) return [];
      q = q.where('id', 'in', [...filter.ids]);
    }
    if (filter.holdsContainer !== undefined) q = q.where('holds_container', '=', filter.holdsContainer ? 1 : 0);
    if (filter.pooled !== undefined) q = q.where('pooled', '=', filter.pooled ? 1 : 0);
    if (filter.desktop !== undefined) q = q.where('desktop', '=', filter.desktop);
    if (filter.language !== undefined) q = q.where('language', '=', filter.language);
    q = q.orderBy('created_at', 'desc');
    if (filter.limit) q = q.limit(filter.limit);
    return (await q.execute()).map((r) => fromRow(r, this.box));
  }

  /** One conditional UPDATE: the status and the guard are checked where the row is written. */
  async transition(...[id, from, to, patch, now, guard]: In<'transition'>): Out<'transition'> {
    const result = await guarded(
      this.db
        .updateTable('sessions')
        .set({ ...toRowPatch(patch, this.box), status: to, status_changed_at: now, updated_at: now })
        .where('id', '=', id)
        .where('status', 'in', [...from]),
      guard,
    ).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(id);
  }

  async update(id: string, patch: SessionPatch, now: number, onlyIn?: readonly SessionStatus[], guard?: MoveGuard): Promise<boolean> {
    let q = guarded(
      this.db
        .updateTable('sessions')
        .set({ ...toRowPatch(patch, this.box), updated_at: now })
        .where('id', '=', id),
      guard,
    );
    if (onlyIn) q = q.where('status', 'in', [...onlyIn]);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async setStep(id: string, step: CreationStep, now: number): Promise<void> {
    await this.update(id, { step }, now, ['creating']);
  }

  async noteCleanupAttempt(id: string, now: number): Promise<void> {
    await this.db.updateTable('sessions').set({ cleanup_attempts: sql`cleanup_attempts + 1`, updated_at: now }).where('id', '=', id).execute();
  }

  async dueForExpiry(now: number, limit: number): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('status', 'in', [...runningStatuses])
      .where('pooled', '=', 0)
      .where('expires_at', '<=', now)
      .orderBy('expires_at')
      .limit(limit)
      .execute();
    return rows.map((r) => fromRow(r, this.box));
  }

  async nextExpiry(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .select(sql<number | null>`min(expires_at)`.as('next'))
      .where('status', 'in', [...runningStatuses])
      .where('pooled', '=', 0)
      .executeTakeFirst();
    return row?.next == null ? undefined : Number(row.next);
  }

  async countHeld(): Promise<number> {
    const row = await this.db.selectFrom('sessions').select(sql<number>`count(*)`.as('n')).where('holds_container', '=', 1).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['status', sql<number>`count(*)`.as('n')])
      .where('status', 'in', [...unendedStatuses, 'failed'])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async needingAttention(): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where((eb) => eb.or([eb('status', 'in', [...unendedStatuses]), eb('holds_container', '=', 1)]))
      .orderBy('created_at')
      .execute();
    return rows.map((r) => fromRow(r, this.box));
  }

  /** Indexed by status, so a sweep's cost does not grow with healthy sessions. */
  async stuck(createdBefore: number, limit: number): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'creating'), eb('status_changed_at', '<', createdBefore)]),
          eb('status', '=', 'destroying'),
          eb.and([eb('status', '=', 'failed'), eb('holds_container', '=', 1)]),
        ]),
      )
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => fromRow(r, this.box));
  }

  /** Finished sessions older than `before` are deleted so the table does not grow forever. */
  async purgeEnded(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom('sessions')
      .where('status', 'in', ['destroyed', 'failed'])
      .where('holds_container', '=', 0)
      .where('updated_at', '<', before)
      .executeTakeFirst();
    // Their share links go with them.
    await this.db.deleteFrom('shares').where('session_id', 'not in', this.db.selectFrom('sessions').select('id')).execute();
    // A budget untouched that long has long been full again: the same as no row.
    await this.db.deleteFrom('create_budgets').where('at', '<', before).execute();
    return Number(result.numDeletedRows);
  }

  async claimWork(id: string, owner: string, until: number, now: number): Promise<SessionRecord | undefined> {
    let q = this.db.updateTable('sessions').set({ owner, lease_until: until }).where('id', '=', id);
    // SQLite is one process: whoever else is on record was this deployment's previous process.
    if (this.shared) q = q.where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_until', '<', now)]));
    const result = await q.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(id);
  }

  async renewWork(owner: string, until: number): Promise<OwnedWork[]> {
    const rows = await this.db.updateTable('sessions').set({ lease_until: until }).where('owner', '=', owner).returning(['id', 'status']).execute();
    return rows.map((r) => ({ id: r.id, status: r.status as SessionStatus }));
  }

  async releaseWork(id: string, owner: string): Promise<void> {
    await this.db.updateTable('sessions').set({ owner: null, lease_until: null }).where('id', '=', id).where('owner', '=', owner).execute();
  }

  async handOverWork(owner: string): Promise<number> {
    const result = await this.db.updateTable('sessions').set({ lease_until: 0 }).where('owner', '=', owner).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async abandoned(owner: string, now: number, limit: number): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where((eb) =>
        eb.and([
          eb.or([eb('status', 'in', ['creating', 'destroying']), eb.and([eb('status', '=', 'failed'), eb('holds_container', '=', 1)])]),
          eb('owner', 'is not', null),
          eb('owner', '!=', owner),
          eb('lease_until', '<', now),
        ]),
      )
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => fromRow(r, this.box));
  }

  async holdLease(name: string, holder: string, until: number, now: number): Promise<boolean> {
    const result = await sql`
      INSERT INTO leases (name, holder, until) VALUES (${name}, ${holder}, ${until})
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
      WHERE leases.holder = excluded.holder OR leases.until < ${now}`.execute(this.db);
    // One process on SQLite: a lease still on record is its dead predecessor's.
    return !this.shared || Number(result.numAffectedRows ?? 0) > 0;
  }

  async dropLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  /**
   * One transaction per take, the bucket's row locked (PostgreSQL `FOR UPDATE`; SQLite has
   * one writer), so two replicas taking from one address's bucket at once both count.
   */
  async takeBudget(key: string, ratePerMinute: number, burst: number, now: number): Promise<number> {
    const perMs = ratePerMinute / 60_000;
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('create_budgets')
        .values({ key, tokens: burst, at: now })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      let q = trx.selectFrom('create_budgets').selectAll().where('key', '=', key);
      if (this.dialect === 'postgres') q = q.forUpdate();
      const row = await q.executeTakeFirstOrThrow();
      const tokens = Math.min(burst, Number(row.tokens) + Math.max(0, now - Number(row.at)) * perMs);
      const allowed = tokens >= 1;
      await trx
        .updateTable('create_budgets')
        .set({ tokens: allowed ? tokens - 1 : tokens, at: now })
        .where('key', '=', key)
        .execute();
      return allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
    });
  }

  async publish(change: SessionChange): Promise<void> {
    await this.notifications.publish(this.db, change);
  }

  subscribe(listener: (change: SessionChange) => void): () => void {
    return this.notifications.subscribe(listener);
  }

  async insertShare(share: ShareRecord): Promise<void> {
    await this.db
      .insertInto('shares')
      .values({ id: share.id, session_id: share.sessionId, secret_hash: share.secretHash, created_at: share.createdAt, revoked_at: share.revokedAt })
      .execute();
  }

  async getShare(id: string): Promise<ShareRecord | undefined> {
    const row = await this.db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst();
    return row && shareOf(row);
  }

  async activeShares(sessionId: string): Promise<ShareRecord[]> {
    const rows = await this.db
      .selectFrom('shares')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at')
      .execute();
    return rows.map(shareOf);
  }

  async revokeShare(sessionId: string, id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('shares')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('session_id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

function shareOf(row: SharesTable): ShareRecord {
  return {
    id: row.id,
    sessionId: row.session_id,
    secretHash: row.secret_hash,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/**
 * The store as its callers see it: every method's driver error that means "the database
 * cannot be used now" becomes the core's StoreUnavailableError (with the driver's error
 * as its cause), so nothing above the store knows SQLite or PostgreSQL error codes.
 */
function translatingOutages<T extends object>(target: T): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, key) {
      const value = Reflect.get(object, key, object) as unknown;
      if (typeof value !== 'function') return value;
      if (!wrapped.has(key)) {
        wrapped.set(key, (...args: unknown[]) => {
          const translate = (error: unknown) => {
            throw isOutage(error) ? new StoreUnavailableError({ cause: error }) : error;
          };
          try {
            const result = (value as (...a: unknown[]) => unknown).apply(object, args);
            return result instanceof Promise ? result.catch(translate) : result;
          } catch (error) {
            return translate(error);
          }
        });
      }
      return wrapped.get(key);
    },
  });
}

/** A database that is down, locked, full or read-only: an outage, not a bug. */
function isOutage(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('SQLITE_')) return true;
  // PostgreSQL: connection exceptions (08), shutdown/operator intervention (57), resources (53).
  if (/^(08|57|53)[0-9A-Z]{3}$/.test(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

/** Running visitor sessions asked from one client address (pool members not counted). */
async function countAtAddress(trx: Transaction<Database>, clientAddress: string): Promise<number> {
  const row = await trx
    .selectFrom('sessions')
    .select(sql<number>`count(*)`.as('n'))
    .where('client_address', '=', clientAddress)
    .where('status', 'in', [...runningStatuses])
    .where('pooled', '=', 0)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Adds a move's extra conditions to its UPDATE, so they are checked in the same statement that writes. */
function guarded<Q extends UpdateQueryBuilder<Database, 'sessions', 'sessions', UpdateResult>>(q: Q, guard: MoveGuard | undefined): Q {
  if (!guard) return q;
  let out = q as UpdateQueryBuilder<Database, 'sessions', 'sessions', UpdateResult>;
  if (guard.expiresAtOrBefore !== undefined) out = out.where('expires_at', '<=', guard.expiresAtOrBefore);
  if (guard.expiresAt !== undefined) out = out.where('expires_at', '=', guard.expiresAt);
  if (guard.pooled !== undefined) out = out.where('pooled', '=', guard.pooled ? 1 : 0);
  if (guard.createdAtOrBefore !== undefined) out = out.where('created_at', '<=', guard.createdAtOrBefore);
  return out as Q;
}

function lowestFree(held: number[], min: number, max: number): number | undefined {
  const taken = new Set(held);
  for (let id = min; id <= max; id++) if (!taken.has(id)) return id;
  return undefined;
}

function requirePg(): typeof import('pg').default {
  // pg is CommonJS, loaded on demand: SQLite users never pay its start-up cost.
  return createRequire(import.meta.url)('pg');
}

/** How a field is kept: booleans as 0/1, the provider's ref as JSON text, times and numbers as BIGINT/INTEGER. */
type Codec = 'as-is' | 'number' | 'number-or-null' | 'boolean' | 'json' | 'secret';

/** The one map between a session's fields and its columns; rows are read and written only through it. */
const columns: { [K in keyof SessionRecord]-?: readonly [keyof SessionsTable, Codec] } = {
  id: ['id', 'as-is'],
  status: ['status', 'as-is'],
  step: ['step', 'as-is'],
  containerId: ['container_id', 'number'],
  holdsContainer: ['holds_container', 'boolean'],
  pooled: ['pooled', 'boolean'],
  desktop: ['desktop', 'as-is'],
  language: ['language', 'as-is'],
  node: ['node', 'as-is'],
  ip: ['ip', 'as-is'],
  endpointHost: ['endpoint_host', 'as-is'],
  port: ['port', 'number-or-null'],
  username: ['username', 'as-is'],
  password: ['password', 'secret'],
  tokenHash: ['token_hash', 'as-is'],
  visitor: ['visitor', 'as-is'],
  clientAddress: ['client_address', 'as-is'],
  providerRef: ['provider_ref', 'json'],
  createdAt: ['created_at', 'number'],
  readyAt: ['ready_at', 'number-or-null'],
  expiresAt: ['expires_at', 'number'],
  endedAt: ['ended_at', 'number-or-null'],
  durationMinutes: ['duration_minutes', 'number'],
  error: ['error', 'as-is'],
  statusChangedAt: ['status_changed_at', 'number'],
  cleanupAttempts: ['cleanup_attempts', 'number'],
  updatedAt: ['updated_at', 'number'],
  owner: ['owner', 'as-is'],
  leaseUntil: ['lease_until', 'number-or-null'],
};

function encode(codec: Codec, value: unknown, box: SecretBox): unknown {
  if (codec === 'boolean') return value ? 1 : 0;
  if (codec === 'secret') return box.seal(String(value));
  if (codec === 'json') return value ? JSON.stringify(value) : null;
  return value;
}

function decode(codec: Codec, value: unknown, box: SecretBox): unknown {
  switch (codec) {
    case 'secret':
      try {
        return box.open(String(value ?? ''));
      } catch {
        return ''; // an ended session's, sealed under a key since rotated: start-up checked the live ones
      }
    case 'number':
      return Number(value);
    case 'number-or-null':
      return value == null ? null : Number(value);
    case 'boolean':
      return Number(value) === 1;
    case 'json':
      return value ? JSON.parse(value as string) : null;
    default:
      return value;
  }
}

function toRowPatch(patch: Partial<SessionRecord>, box: SecretBox): Partial<SessionsTable> {
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch) as [keyof SessionRecord, unknown][]) {
    if (value === undefined) continue;
    const [column, codec] = columns[key];
    row[column] = encode(codec, value, box);
  }
  return row as Partial<SessionsTable>;
}

function toRow(s: SessionRecord, box: SecretBox): SessionsTable {
  return toRowPatch(s, box) as SessionsTable;
}

function fromRow(r: SessionsTable, box: SecretBox): SessionRecord {
  const record: Record<string, unknown> = {};
  for (const [field, [column, codec]] of Object.entries(columns)) record[field] = decode(codec, r[column], box);
  return record as unknown as SessionRecord;
}

export type { Transaction };
