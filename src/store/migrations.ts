// biome-ignore-all lint/suspicious/noExplicitAny: Kysely<any> is how migrations are written: they must not depend on the schema of today
// Migrations live in code (not files on disk) so they ship inside the package and
// run the same way on SQLite and PostgreSQL. Append new ones; never edit old ones.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_sessions': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('step', 'varchar(16)', (c) => c.notNull())
        .addColumn('container_id', 'integer', (c) => c.notNull())
        .addColumn('holds_container', 'integer', (c) => c.notNull())
        .addColumn('pooled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('node', 'varchar(255)')
        .addColumn('ip', 'varchar(64)')
        .addColumn('endpoint_host', 'varchar(255)')
        .addColumn('port', 'integer')
        .addColumn('username', 'varchar(64)', (c) => c.notNull())
        .addColumn('password', 'varchar(128)', (c) => c.notNull())
        .addColumn('token_hash', 'varchar(128)', (c) => c.notNull())
        .addColumn('visitor', 'varchar(255)', (c) => c.notNull())
        .addColumn('provider_ref', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('ready_at', 'bigint')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('status_changed_at', 'bigint', (c) => c.notNull())
        .addColumn('duration_minutes', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('cleanup_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // The database itself guarantees that no container id is held twice, even
      // across several Winux replicas sharing one PostgreSQL.
      await sql`CREATE UNIQUE INDEX sessions_held_container ON sessions (container_id) WHERE holds_container = 1`.execute(db);
      await db.schema.createIndex('sessions_status_expires').on('sessions').columns(['status', 'expires_at']).execute();
      await db.schema.createIndex('sessions_visitor').on('sessions').columns(['visitor', 'status']).execute();
    },
  },
  '0002_sessions_holding': {
    async up(db: Kysely<any>) {
      // Capacity counts and the reconciler read sessions by whether they hold a container.
      await db.schema.createIndex('sessions_holds').on('sessions').columns(['holds_container', 'status']).execute();
    },
  },
  '0003_reserved_ids': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('reserved_ids')
        .addColumn('container_id', 'integer', (c) => c.primaryKey())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('until', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0004_health_probe': {
    async up(db: Kysely<any>) {
      // One row that /health rewrites: a read alone does not notice a database
      // that has become read-only (full disk, immutable file, PostgreSQL standby).
      await db.schema
        .createTable('health_probe')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('checked_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.insertInto('health_probe').values({ id: 1, checked_at: 0 }).execute();
    },
  },
  '0005_admin': {
    async up(db: Kysely<any>) {
      // Row ids that count up by themselves: SQLite's INTEGER PRIMARY KEY does, PostgreSQL needs a sequence.
      const serial = db.getExecutor().adapter.constructor.name === 'PostgresAdapter' ? 'bigserial' : 'integer';
      // Who did what, when, from where (never a secret: see core/audit-port.ts).
      await db.schema
        .createTable('audit_log')
        .addColumn('id', serial, (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'varchar(16)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
        .addColumn('address', 'varchar(64)')
        .addColumn('session_id', 'varchar(64)')
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
      await db.schema.createIndex('audit_log_session').on('audit_log').columns(['session_id', 'id']).execute();
      // Console sign-ins: the SHA-256 of the cookie's secret, never the secret.
      await db.schema
        .createTable('admin_sign_ins')
        .addColumn('secret_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('address', 'varchar(64)')
        .execute();
      await db.schema
        .createTable('settings')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('blocks')
        .addColumn('id', serial, (c) => c.primaryKey())
        .addColumn('network', 'varchar(64)', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .execute();
    },
  },
  '0006_shares': {
    async up(db: Kysely<any>) {
      // View-only links to a session's desktop (only the secret's SHA-256 is kept).
      await db.schema
        .createTable('shares')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('session_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('secret_hash', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('shares_session').on('shares').columns(['session_id']).execute();
    },
  },
  '0007_client_address': {
    async up(db: Kysely<any>) {
      // WINUX_SESSIONS_PER_ADDRESS counts running sessions per client address, whatever the cookie.
      await db.schema
        .alterTable('sessions')
        .addColumn('client_address', 'varchar(255)', (c) => c.notNull().defaultTo(''))
        .execute();
      await db.schema.createIndex('sessions_client_address').on('sessions').columns(['client_address', 'status']).execute();
    },
  },
  '0008_usage_days': {
    async up(db: Kysely<any>) {
      // The console's usage charts past the sessions' purge: one row a day (UTC), no session ids.
      await db.schema
        .createTable('usage_days')
        .addColumn('day', 'varchar(10)', (c) => c.primaryKey())
        .addColumn('sessions', 'integer', (c) => c.notNull())
        .addColumn('desktop_seconds', 'bigint', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('median_ready_ms', 'integer')
        .addColumn('p95_ready_ms', 'integer')
        .execute();
    },
  },
  '0010_replicas': {
    async up(db: Kysely<any>) {
      // Several replicas on one PostgreSQL: in-flight work (a creation, a removal) belongs to
      // the replica in `owner` while `lease_until` is ahead; another takes it over only after.
      await db.schema.alterTable('sessions').addColumn('owner', 'varchar(128)').execute();
      await db.schema.alterTable('sessions').addColumn('lease_until', 'bigint').execute();
      await db.schema.createIndex('sessions_owner').on('sessions').columns(['owner', 'status']).execute();
      // Named leases held by one replica at a time (the leader that runs expiry, the reconciler, the pool).
      await db.schema
        .createTable('leases')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('holder', 'varchar(128)', (c) => c.notNull())
        .addColumn('until', 'bigint', (c) => c.notNull())
        .execute();
      // Creation budgets per client address (token buckets), shared by every replica.
      await db.schema
        .createTable('create_budgets')
        .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('tokens', 'double precision', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0011_desktop': {
    async up(db: Kysely<any>) {
      // Which desktop a session runs (WINUX_DESKTOPS); every session before this one ran XFCE.
      await db.schema
        .alterTable('sessions')
        .addColumn('desktop', 'varchar(32)', (c) => c.notNull().defaultTo('xfce'))
        .execute();
    },
  },
  '0012_language': {
    async up(db: Kysely<any>) {
      // The desktop's language: warm-pool members are kept per language, and a creation
      // resumed after a restart keeps the visitor's. Every session before ran French.
      await db.schema
        .alterTable('sessions')
        .addColumn('language', 'varchar(8)', (c) => c.notNull().defaultTo('fr'))
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
