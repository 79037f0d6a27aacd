// The admin console's port, owned by the core: console sign-ins (only the
// SHA-256 of each cookie's secret is kept), run-time settings (e.g. the warm
// pool's size), and blocked client networks. `src/store/admin-store.ts` keeps
// them in the database, so a restart keeps all three.

export interface AdminSignIn {
  /** SHA-256 hex of the cookie's random secret. */
  secretHash: string;
  createdAt: number;
  expiresAt: number;
  address: string | null;
}

export interface Block {
  id: number;
  /** An IPv4 or IPv6 network in CIDR form (a single address is /32 or /128). */
  network: string;
  reason: string;
  createdAt: number;
  /** Null: blocked for good. */
  expiresAt: number | null;
}

export interface AdminStore {
  addSignIn(signIn: AdminSignIn): Promise<void>;
  /** The sign-in with this hash if it has not expired at `now`. */
  findSignIn(secretHash: string, now: number): Promise<AdminSignIn | undefined>;
  removeSignIn(secretHash: string): Promise<void>;
  /** Deletes expired sign-ins. */
  purgeSignIns(now: number): Promise<number>;

  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string, now: number): Promise<void>;

  addBlock(block: Omit<Block, 'id'>): Promise<Block>;
  removeBlock(id: number): Promise<boolean>;
  /** Blocks in force at `now` (permanent ones and those not yet expired). */
  activeBlocks(now: number): Promise<Block[]>;
}
