// Configuration is parsed once from the environment into a typed, frozen object
// and passed explicitly to whatever needs it. A bad value stops start-up with a
// message that names the variable and the form it expects.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { desktopNames, isDesktopName, type DesktopName } from './core/desktops.ts';
import { isLanguage, languages, poolKey, type Language } from './core/languages.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `a whole number between ${min} and ${max}` })
    .int({ error: `a whole number between ${min} and ${max}` })
    .min(min, { error: `a whole number between ${min} and ${max}` })
    .max(max, { error: `a whole number between ${min} and ${max}` });

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], {
    error: 'one of 1/0, true/false, yes/no, on/off',
  })
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const hostName = z.string().regex(/^[A-Za-z0-9.:\-[\]]+$/, { error: 'a host name or IP address' });

/** Every variable Winux reads, with its default. Names follow DESIGN.md (the seed's `proxmox_*` names kept). */
const schema = z.object({
  WINUX_HOST: hostName.default('0.0.0.0'),
  WINUX_PORT: int(0, 65535).default(5000),
  WINUX_DATA_DIR: z.string().min(1).default('./data'),
  WINUX_DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:)/, { error: 'postgres://user:pass@host/db or sqlite:/path/file.db' })
    .optional(),
  WINUX_ADMIN_TOKEN: z.string().min(16, { error: 'at least 16 characters (leave it unset to have one generated)' }).optional(),
  WINUX_PROVIDER: z.enum(['lxc', 'proxmox', 'ansible'], { error: 'one of lxc, proxmox, ansible' }).optional(),
  WINUX_TLS_CERT: z.string().optional(),
  WINUX_TLS_KEY: z.string().optional(),
  WINUX_HTTP_REDIRECT_PORT: int(0, 65535).optional(),
  WINUX_ACME_WEBROOT: z.string().optional(),
  WINUX_HSTS_MAX_AGE_SECONDS: int(0, 63_072_000).default(31_536_000),
  WINUX_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'one of fatal, error, warn, info, debug, trace, silent' })
    .default('info'),

  WINUX_SESSION_MINUTES: int(1, 10080).default(30),
  WINUX_MAX_SESSION_MINUTES: int(1, 10080).default(240),
  WINUX_UPLOAD_MAX_MB: int(1, 1_000_000).default(1024),
  WINUX_CONTAINER_ID_MIN: int(100, 999_999_999).default(30001),
  WINUX_CONTAINER_ID_MAX: int(100, 999_999_999).default(30999),
  WINUX_MAX_SESSIONS: int(1, 1_000_000).optional(),
  WINUX_SESSIONS_PER_VISITOR: int(0, 1000).default(1),
  WINUX_SESSIONS_PER_ADDRESS: int(0, 1_000_000).default(30),
  WINUX_CREATE_RATE_PER_MINUTE: int(0, 100_000).default(10),
  WINUX_CREATE_BURST: int(1, 100_000).default(30),
  WINUX_TRUSTED_PROXIES: z.string().default('127.0.0.1,::1'),
  WINUX_CORS_ORIGINS: z.string().default(''),
  WINUX_PUBLIC_HOST: hostName.optional(),
  WINUX_CREATE_TIMEOUT_SECONDS: int(5, 3600).default(300),
  WINUX_DESTROY_TIMEOUT_SECONDS: int(5, 3600).default(120),
  WINUX_SWEEP_SECONDS: int(1, 3600).default(15),
  WINUX_SHARE_LINKS: int(0, 100).default(5),
  WINUX_SHARE_VIEWERS: int(1, 1000).default(10),

  WINUX_MEMORY_MB: int(128, 1_048_576).default(1024),
  WINUX_CORES: int(1, 512).default(2),
  WINUX_DISK_GB: int(1, 10_000).default(10),
  WINUX_PIDS_MAX: int(64, 4_194_304).default(2048),
  WINUX_SWAP_MB: int(0, 1_048_576).default(0),
  WINUX_IO_WEIGHT: int(1, 1000).default(100),
  WINUX_SESSIONS_MEMORY_MB: int(256, 1_073_741_824).optional(),
  WINUX_DISK_ESTIMATE_GB: int(1, 10_000).optional(),
  WINUX_DESKTOP_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: 'a Unix user name (lowercase letters, digits, _ or -), not root' })
    .refine((u) => u !== 'root', { error: 'a Unix user name other than root' })
    .default('winux'),

  WINUX_RDP_PORT_MIN: int(1024, 65535).default(33890),
  WINUX_RDP_PORT_MAX: int(1024, 65535).default(34889),
  WINUX_LXC_PATH: z.string().min(1).default('/var/lib/lxc'),
  WINUX_LXC_TEMPLATE: z
    .string()
    .regex(/^[a-z0-9-]+$/, { error: 'a container name (lowercase letters, digits, -)' })
    .default('winux-template'),
  WINUX_LXC_BRIDGE: z
    .string()
    .regex(/^[a-z0-9]{1,15}$/, { error: 'a bridge name of at most 15 lowercase letters and digits' })
    .default('winuxbr0'),
  WINUX_LXC_SUBNET: z
    .string()
    .regex(/^10\.\d{1,3}\.0\.0\/16$/, { error: 'a 10.X.0.0/16 subnet' })
    .default('10.217.0.0/16'),
  WINUX_ALLOWED_NETWORKS: z
    .string()
    .default('')
    .refine((v) => splitList(v).every(isIpv4Cidr), { error: 'comma-separated IPv4 networks such as 192.168.10.0/24 or 10.1.2.3/32' }),
  WINUX_CACHE_DIR: z.string().min(1).default('/var/cache/winux'),
  WINUX_MIRROR: z.string().url({ error: 'a Debian mirror URL' }).default('http://deb.debian.org/debian'),

  WINUX_LEASE_SECONDS: int(3, 3600).default(30),
  WINUX_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'letters, digits, ".", "_" or "-" (at most 64)' })
    .optional(),
  WINUX_POOL_SIZE: int(0, 1000).default(0),
  WINUX_DESKTOPS: z
    .string()
    .default('xfce')
    .refine((v) => splitList(v).length > 0 && splitList(v).every(isDesktopName), {
      error: `comma-separated desktops among ${desktopNames.join(', ')}`,
    }),
  WINUX_POOL_SIZES: z
    .string()
    .default('')
    .refine(
      (v) =>
        splitList(v).every((item) => {
          const m = /^([a-z]+)(?:\/([a-z]+))?:\d{1,4}$/.exec(item);
          return m && isDesktopName(m[1]!) && (m[2] === undefined || isLanguage(m[2]));
        }),
      {
        error: `desktop:size pairs such as xfce:2,mate:1, a language after the desktop for members in it (xfce/en:1); desktops among ${desktopNames.join(', ')}, languages ${languages.join(', ')}`,
      },
    ),
  WINUX_POOL_MAX_AGE_MINUTES: int(1, 100_000).default(240),
  WINUX_POOL_QUIET_SECONDS: int(0, 60).default(2),
  WINUX_AUDIT_DAYS: int(1, 36_500).default(90),
  WINUX_USAGE_DAYS: int(7, 36_500).default(90),
  WINUX_USAGE_SAMPLE_SECONDS: int(1, 3600).default(5),
  WINUX_TEMPLATE_DIR: z.string().min(1).optional(),
  WINUX_METRICS_TOKEN: z.string().min(16, { error: 'at least 16 characters' }).optional(),
  WINUX_ADMIN_SIGN_IN_HOURS: int(1, 720).default(12),

  // The seed's Proxmox names, kept as they were.
  proxmox_api_host: hostName.optional(),
  proxmox_api_port: int(1, 65535).default(8006),
  proxmox_api_user: z.string().optional(),
  proxmox_api_token_id: z.string().optional(),
  proxmox_api_token_secret: z.string().optional(),
  proxmox_api_ca_file: z.string().optional(),
  proxmox_api_insecure: bool.default(false),
  proxmox_node: z.string().optional(),
  proxmox_ssh_private_key: z.string().optional(),
  proxmox_ssh_key_path: z.string().optional(),
  proxmox_ssh_host: hostName.optional(),
  proxmox_ssh_port: int(1, 65535).default(22),
  proxmox_ssh_user: z.string().default('root'),
  WINUX_PROXMOX_TEMPLATE: z.string().optional(),
  WINUX_PROXMOX_OSTEMPLATE: z.string().optional(),
  WINUX_PROXMOX_STORAGE: z.string().default('local-lvm'),
  WINUX_PROXMOX_BRIDGE: z.string().default('vmbr0'),
  WINUX_PROXMOX_POOL: z
    .string()
    .regex(/^[A-Za-z0-9.\-_]+$/, { error: 'a Proxmox pool id ([A-Za-z0-9.-_])' })
    .default('winux'),
  WINUX_PROXMOX_IP_POOL: z.string().optional(),
  WINUX_PROXMOX_VIEWER_SOURCES: z
    .string()
    .default('')
    .refine((v) => splitList(v).every((s) => isIpv4Cidr(s.includes('/') ? s : `${s}/32`)), {
      error: 'comma-separated IPv4 addresses or networks Winux reaches the CTs from, such as 10.0.0.5 or 10.0.0.0/29',
    }),
  WINUX_ANSIBLE_DIR: z.string().optional(),
});

type Env = z.infer<typeof schema>;

export interface Config {
  host: string;
  port: number;
  /** PEM files: when set, WINUX_PORT speaks HTTPS only (read and checked by src/http/tls.ts at start-up). */
  tls?: { certFile: string; keyFile: string };
  /** With TLS: a plain-HTTP port that only redirects to the HTTPS address; off when unset. */
  httpRedirectPort?: number;
  /** certbot --webroot's directory: the redirect port serves its /.well-known/acme-challenge/ files (and nothing else). */
  acmeWebroot?: string;
  /** Strict-Transport-Security max-age on HTTPS answers; 0 = no header. */
  hstsMaxAgeSeconds: number;
  dataDir: string;
  databaseUrl: string;
  adminToken?: string;
  provider: 'lxc' | 'proxmox' | 'ansible';
  logLevel: Env['WINUX_LOG_LEVEL'];
  sessionMinutes: number;
  maxSessionMinutes: number;
  /** The largest file one upload into a desktop may carry (bytes); the session's own disk limits the total. */
  uploadMaxBytes: number;
  containerIdMin: number;
  containerIdMax: number;
  maxSessions: number;
  /** WINUX_MAX_SESSIONS was given: the local provider then keeps it instead of the host's capacity. */
  maxSessionsSet: boolean;
  sessionsPerVisitor: number;
  /** Running sessions per client address (IPv6: per /64), however many cookies it shows; 0 = no limit. */
  sessionsPerAddress: number;
  /** Token bucket per client address: refilled at this many creations a minute… */
  createRatePerMinute: number;
  /** …holding at most this many (a classroom behind one NAT address starting together). */
  createBurst: number;
  trustedProxies: string[];
  corsOrigins: string[];
  publicHost?: string;
  createTimeoutMs: number;
  destroyTimeoutMs: number;
  sweepIntervalMs: number;
  /**
   * How long a replica's claim on in-flight work (and on leadership) lasts without a
   * heartbeat: another replica takes the work over only after it ran out.
   */
  leaseMs: number;
  /** This process among replicas sharing one PostgreSQL (owner of its leases); unique per start by default. */
  replicaId: string;
  /** View-only links: how many per session, how many viewers per link. */
  share: { linksPerSession: number; viewersPerLink: number };
  resources: { memoryMb: number; cores: number; diskGb: number; pidsMax: number };
  desktopUser: string;
  /** Private networks sessions may reach anyway (a school's file server); the rest of the LAN is blocked. */
  allowedNetworks: string[];
  lxc: {
    path: string;
    template: string;
    bridge: string;
    subnet: string;
    rdpPortMin: number;
    rdpPortMax: number;
    cacheDir: string;
    mirror: string;
    /** Total memory of all sessions together (the parent cgroup's limit); unset = 90 % of the host's. */
    sessionsMemoryMb?: number;
    /** Host disk counted per session for the capacity; unset = WINUX_DISK_GB. */
    diskEstimateGb?: number;
    swapMb: number;
    ioWeight: number;
  };
  /** The desktops sessions may ask for (WINUX_DESKTOPS), each with its own template. */
  desktops: readonly DesktopName[];
  /** The desktop of a request that names none: XFCE when enabled, else the first of WINUX_DESKTOPS. */
  defaultDesktop: DesktopName;
  /** `size`: the default desktop's pool size; `sizes`: every enabled desktop's (WINUX_POOL_SIZES, WINUX_POOL_SIZE for the default one). */
  /**
   * `quietMs`: after a claim, how long the work that can wait (the replacement
   * member, the claimed desktop's end time) waits, so the visitor's first frames
   * do not share the CPU with another desktop's boot.
   */
  pool: { size: number; sizes: Record<string, number>; maxAgeMs: number; quietMs: number };
  /** Audit rows older than this are purged by the reconciler. */
  auditDays: number;
  /** Daily usage figures (sessions, desktop-hours, time to desktop, failures) are kept this long, past the sessions' own purge. */
  usageDays: number;
  /** How often one loop reads every session's CPU and memory for the console. */
  usageSampleMs: number;
  /** The desktop template's recipe (build.sh and its files); default: the template/ directory shipped with Winux. */
  templateDir: string;
  /** A bearer token that may read /metrics only (a scraper should not hold admin rights). */
  metricsToken?: string;
  /** How long a console sign-in lasts. */
  adminSignInMs: number;
  proxmox: {
    host?: string;
    port: number;
    /** Full token id `user@realm!name`. */
    tokenId?: string;
    tokenSecret?: string;
    caFile?: string;
    insecure: boolean;
    /** Node names, or ['auto'] to pick among every online node. */
    nodes: string[];
    sshPrivateKey?: string;
    sshKeyPath?: string;
    sshHost?: string;
    sshPort: number;
    sshUser: string;
    template?: string;
    ostemplate?: string;
    storage: string;
    bridge: string;
    pool: string;
    ipPool?: string;
    /**
     * Winux's own addresses as the CTs see them (IPv4/CIDR): the only sources the CT
     * firewall admits to the desktop's VNC port. Empty: no browser desktop on Proxmox.
     */
    viewerSources: string[];
  };
  ansibleDir: string;
}

/** Parses `env` (normally process.env); `overrides` let tests replace any parsed field. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const known = Object.keys(schema.shape);
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        // Never echo a value back: it may be a secret.
        return `${name}: expected ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.WINUX_CONTAINER_ID_MIN > e.WINUX_CONTAINER_ID_MAX) {
    problems.push('WINUX_CONTAINER_ID_MIN: expected a value not above WINUX_CONTAINER_ID_MAX');
  }
  if (e.WINUX_RDP_PORT_MIN > e.WINUX_RDP_PORT_MAX) {
    problems.push('WINUX_RDP_PORT_MIN: expected a value not above WINUX_RDP_PORT_MAX');
  }
  if (e.WINUX_SESSION_MINUTES > e.WINUX_MAX_SESSION_MINUTES) {
    problems.push('WINUX_SESSION_MINUTES: expected a value not above WINUX_MAX_SESSION_MINUTES');
  }
  const idCount = e.WINUX_CONTAINER_ID_MAX - e.WINUX_CONTAINER_ID_MIN + 1;
  const tokenId = fullTokenId(e.proxmox_api_user, e.proxmox_api_token_id);
  const provider = e.WINUX_PROVIDER ?? (e.proxmox_api_host ? 'proxmox' : 'lxc');
  if (provider === 'proxmox') {
    if (!e.proxmox_api_host) problems.push('proxmox_api_host: expected the Proxmox VE host name (WINUX_PROVIDER is proxmox)');
    if (!tokenId) problems.push('proxmox_api_user: expected user@realm!tokenname, or user@realm with proxmox_api_token_id');
    if (!e.proxmox_api_token_secret) problems.push('proxmox_api_token_secret: expected the API token secret');
  }
  if (Boolean(e.WINUX_TLS_CERT) !== Boolean(e.WINUX_TLS_KEY)) {
    problems.push(
      e.WINUX_TLS_CERT
        ? 'WINUX_TLS_KEY: expected the PEM private key file too (WINUX_TLS_CERT is set; give both or neither)'
        : 'WINUX_TLS_CERT: expected the PEM certificate file too (WINUX_TLS_KEY is set; give both or neither)',
    );
  }
  if (e.WINUX_HTTP_REDIRECT_PORT !== undefined) {
    if (!e.WINUX_TLS_CERT)
      problems.push("WINUX_HTTP_REDIRECT_PORT: expected only with WINUX_TLS_CERT and WINUX_TLS_KEY (it redirects plain HTTP to Winux's own HTTPS)");
    else if (e.WINUX_HTTP_REDIRECT_PORT !== 0 && e.WINUX_HTTP_REDIRECT_PORT === e.WINUX_PORT)
      problems.push('WINUX_HTTP_REDIRECT_PORT: expected a port other than WINUX_PORT');
  }
  if (e.WINUX_ACME_WEBROOT && e.WINUX_HTTP_REDIRECT_PORT === undefined) {
    problems.push('WINUX_ACME_WEBROOT: expected only with WINUX_HTTP_REDIRECT_PORT (the plain-HTTP port serves the ACME challenges)');
  }
  if (splitList(e.WINUX_PROXMOX_VIEWER_SOURCES).some((s) => s.endsWith('/0'))) {
    // The issue's own warning (GHSA-vrq4-9hc3-cgp7): a desktop port open to everyone, guarded by an 8-character DES password.
    problems.push("WINUX_PROXMOX_VIEWER_SOURCES: expected Winux's own addresses, not a /0 network (that would open every desktop's VNC port to anyone)");
  }
  const desktops = [...new Set(splitList(e.WINUX_DESKTOPS))] as DesktopName[];
  const defaultDesktop: DesktopName = desktops.includes('xfce') ? 'xfce' : desktops[0]!;
  // Keys as the pool has them (poolKey): `xfce`, or `xfce/en` for members in English.
  const poolSizes: Record<string, number> = { [defaultDesktop]: e.WINUX_POOL_SIZE };
  for (const item of splitList(e.WINUX_POOL_SIZES)) {
    const [key, size] = item.split(':') as [string, string];
    const [name, language] = key.split('/') as [DesktopName, Language | undefined];
    if (!desktops.includes(name)) problems.push(`WINUX_POOL_SIZES: expected only desktops enabled by WINUX_DESKTOPS (${desktops.join(', ')}), got ${name}`);
    else if (Number(size) > 1000) problems.push('WINUX_POOL_SIZES: expected sizes from 0 to 1000');
    else poolSizes[poolKey(name, language)] = Number(size);
  }
  if (problems.length) throw new ConfigError(problems);

  const dataDir = path.resolve(e.WINUX_DATA_DIR);
  const config: Config = {
    host: e.WINUX_HOST,
    port: e.WINUX_PORT,
    tls: e.WINUX_TLS_CERT && e.WINUX_TLS_KEY ? { certFile: path.resolve(e.WINUX_TLS_CERT), keyFile: path.resolve(e.WINUX_TLS_KEY) } : undefined,
    httpRedirectPort: e.WINUX_HTTP_REDIRECT_PORT,
    acmeWebroot: e.WINUX_ACME_WEBROOT ? path.resolve(e.WINUX_ACME_WEBROOT) : undefined,
    hstsMaxAgeSeconds: e.WINUX_HSTS_MAX_AGE_SECONDS,
    dataDir,
    databaseUrl: e.WINUX_DATABASE_URL ?? `sqlite:${path.join(dataDir, 'winux.db')}`,
    adminToken: e.WINUX_ADMIN_TOKEN,
    provider,
    logLevel: e.WINUX_LOG_LEVEL,
    sessionMinutes: e.WINUX_SESSION_MINUTES,
    maxSessionMinutes: e.WINUX_MAX_SESSION_MINUTES,
    uploadMaxBytes: e.WINUX_UPLOAD_MAX_MB * 1024 * 1024,
    containerIdMin: e.WINUX_CONTAINER_ID_MIN,
    containerIdMax: e.WINUX_CONTAINER_ID_MAX,
    maxSessions: Math.min(e.WINUX_MAX_SESSIONS ?? idCount, idCount),
    maxSessionsSet: e.WINUX_MAX_SESSIONS !== undefined,
    sessionsPerVisitor: e.WINUX_SESSIONS_PER_VISITOR,
    sessionsPerAddress: e.WINUX_SESSIONS_PER_ADDRESS,
    createRatePerMinute: e.WINUX_CREATE_RATE_PER_MINUTE,
    createBurst: e.WINUX_CREATE_BURST,
    trustedProxies: splitList(e.WINUX_TRUSTED_PROXIES),
    corsOrigins: splitList(e.WINUX_CORS_ORIGINS),
    publicHost: e.WINUX_PUBLIC_HOST,
    createTimeoutMs: e.WINUX_CREATE_TIMEOUT_SECONDS * 1000,
    destroyTimeoutMs: e.WINUX_DESTROY_TIMEOUT_SECONDS * 1000,
    sweepIntervalMs: e.WINUX_SWEEP_SECONDS * 1000,
    leaseMs: e.WINUX_LEASE_SECONDS * 1000,
    // A new id for every start: a restarted replica must not inherit the dead one's leases early.
    replicaId:
      e.WINUX_REPLICA_ID ??
      `${os
        .hostname()
        .replace(/[^A-Za-z0-9._-]/g, '')
        .slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`,
    share: { linksPerSession: e.WINUX_SHARE_LINKS, viewersPerLink: e.WINUX_SHARE_VIEWERS },
    resources: { memoryMb: e.WINUX_MEMORY_MB, cores: e.WINUX_CORES, diskGb: e.WINUX_DISK_GB, pidsMax: e.WINUX_PIDS_MAX },
    desktopUser: e.WINUX_DESKTOP_USER,
    allowedNetworks: splitList(e.WINUX_ALLOWED_NETWORKS),
    lxc: {
      path: e.WINUX_LXC_PATH,
      template: e.WINUX_LXC_TEMPLATE,
      bridge: e.WINUX_LXC_BRIDGE,
      subnet: e.WINUX_LXC_SUBNET,
      rdpPortMin: e.WINUX_RDP_PORT_MIN,
      rdpPortMax: e.WINUX_RDP_PORT_MAX,
      cacheDir: e.WINUX_CACHE_DIR,
      mirror: e.WINUX_MIRROR,
      sessionsMemoryMb: e.WINUX_SESSIONS_MEMORY_MB,
      diskEstimateGb: e.WINUX_DISK_ESTIMATE_GB,
      swapMb: e.WINUX_SWAP_MB,
      ioWeight: e.WINUX_IO_WEIGHT,
    },
    desktops,
    defaultDesktop,
    pool: {
      size: poolSizes[defaultDesktop] ?? 0,
      sizes: poolSizes,
      maxAgeMs: e.WINUX_POOL_MAX_AGE_MINUTES * 60_000,
      quietMs: e.WINUX_POOL_QUIET_SECONDS * 1000,
    },
    auditDays: e.WINUX_AUDIT_DAYS,
    usageDays: e.WINUX_USAGE_DAYS,
    usageSampleMs: e.WINUX_USAGE_SAMPLE_SECONDS * 1000,
    templateDir: path.resolve(e.WINUX_TEMPLATE_DIR ?? path.resolve(import.meta.dirname, '..', 'template')),
    metricsToken: e.WINUX_METRICS_TOKEN,
    adminSignInMs: e.WINUX_ADMIN_SIGN_IN_HOURS * 3600_000,
    proxmox: {
      host: e.proxmox_api_host,
      port: e.proxmox_api_port,
      tokenId,
      tokenSecret: e.proxmox_api_token_secret,
      caFile: e.proxmox_api_ca_file,
      insecure: e.proxmox_api_insecure,
      nodes: splitList(e.proxmox_node ?? 'auto'),
      sshPrivateKey: e.proxmox_ssh_private_key,
      sshKeyPath: e.proxmox_ssh_key_path,
      sshHost: e.proxmox_ssh_host,
      sshPort: e.proxmox_ssh_port,
      sshUser: e.proxmox_ssh_user,
      template: e.WINUX_PROXMOX_TEMPLATE,
      ostemplate: e.WINUX_PROXMOX_OSTEMPLATE,
      storage: e.WINUX_PROXMOX_STORAGE,
      bridge: e.WINUX_PROXMOX_BRIDGE,
      pool: e.WINUX_PROXMOX_POOL,
      ipPool: e.WINUX_PROXMOX_IP_POOL,
      viewerSources: splitList(e.WINUX_PROXMOX_VIEWER_SOURCES).map((s) => (s.includes('/') ? s : `${s}/32`)),
    },
    ansibleDir: e.WINUX_ANSIBLE_DIR ?? path.resolve(import.meta.dirname, '..', 'ansible'),
  };
  return Object.freeze({ ...config, ...overrides });
}

/** The seed's `proxmox_api_user` may hold `user@realm` (with a separate token name) or the full `user@realm!name`. */
function fullTokenId(user?: string, tokenName?: string): string | undefined {
  if (!user) return undefined;
  if (user.includes('!')) return user;
  return tokenName ? `${user}!${tokenName}` : undefined;
}

function isIpv4Cidr(value: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  return Boolean(m) && m!.slice(1, 5).every((o) => Number(o) <= 255) && Number(m![5]) <= 32;
}

function splitList(value: string): string[] {
  return value
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The variable names Winux reads, for `winux doctor` and the README table check. */
export const configVariables = Object.keys(schema.shape);
