// The simulated cluster: nodes, storages, containers, pools and tasks, with the
// behaviour Winux depends on reproduced from pve-container / pve-manager
// (see shared/PROXMOX.md): sync checks that fail as HTTP errors, workers whose
// failures only show in the task's exitstatus, config locks held for a task's
// whole life, `start=1` forking a second task, tags normalised, and
// `/interfaces` returning null while stopped and only lo + link-local until a
// DHCP delay has passed.
import { emptyFirewall, type Packet, type SimFirewall, verdict } from './firewall.ts';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { authName, hasPriv, type Auth } from './acl.ts';
import { die, noConfig, paramError, permError, PveHttpError } from './errors.ts';
import { closeServer, isLoopback, listenRdp, LoopbackAddresses } from './rdp-listeners.ts';
import { listenVnc, type VncDesktop } from './vnc-server.ts';
import { normaliseTags, tagList } from './tags.ts';
import { formatUpid, type UpidParts } from './upid.ts';
import { mulberry32 } from '../prng.ts';

export interface SimTimings {
  createMs: number;
  cloneMs: number;
  startMs: number;
  stopMs: number;
  destroyMs: number;
  /** From start until eth0 has its DHCP address. */
  dhcpMs: number;
  /** From start until "xrdp" accepts connections. */
  desktopMs: number;
  uploadMs: number;
  templateMs: number;
}

export interface SimFaults {
  /** Share of API calls answered with a 5xx (half before acting, half after acting with the answer lost). */
  http5xxRate: number;
  /** Share of create/clone/start tasks that fail (cleaning up as PVE's workers do). */
  taskFailRate: number;
  /** Share of create/clone tasks whose worker "dies", leaving its lock behind. */
  taskCrashRate: number;
  latencyMs: number;
  /** API paths (e.g. /access/permissions) answered with a 500, as a broken or restricted endpoint. */
  failingPaths: string[];
}

export interface SimNodeSpec {
  name: string;
  /** Bytes. */
  maxmem?: number;
  /** Bytes in use before any container runs. */
  mem?: number;
  maxcpu?: number;
  status?: 'online' | 'offline' | 'unknown';
}

export interface SimStorage {
  storage: string;
  type: 'dir' | 'lvmthin' | 'zfspool' | 'rbd';
  content: string[];
  shared: boolean;
  total: number;
  used: number;
}

export interface SimVolume {
  volid: string;
  content: 'vztmpl' | 'rootdir' | 'iso';
  size: number;
  format: string;
}

export interface SimNode {
  name: string;
  maxmem: number;
  baseMem: number;
  maxcpu: number;
  /**
   * `unknown`: the node stopped reporting (pvestatd, corosync) as a node briefly
   * does; its guests stay in the cluster-wide vmlist (so /cluster/resources and
   * nextid still know them) but calls proxied to it fail like an offline node's.
   */
  status: 'online' | 'offline' | 'unknown';
  ip: string;
  storages: Map<string, SimStorage>;
  volumes: Map<string, SimVolume>;
}

export interface SimCt {
  vmid: number;
  node: string;
  status: 'running' | 'stopped';
  config: Record<string, string | number>;
  pool?: string;
  /** Address handed out when running with ip=dhcp, or the static one from net0. */
  ip?: string;
  startedAt?: number;
  rdp?: net.Server | null;
  timers: NodeJS.Timeout[];
  /** Passwords set with `chpasswd` or the create `password` (for root). */
  users: Map<string, string>;
  /** Its firewall (<vmid>.fw): removed with the CT, copied by a clone. */
  firewall: SimFirewall;
  /**
   * A Winux image (the template, its clones, the Winux vztmpl archive): it has
   * /usr/local/sbin/winux-session-init and keeps xrdp disabled at boot, so RDP
   * answers only once session-init has run in this boot (template/configure.sh).
   */
  winuxImage: boolean;
  /** xrdp started in this boot (by winux-session-init); a plain image starts it at boot. */
  xrdpStarted?: boolean;
  /** Xvnc listens on the CT's address (winux-session-init --vnc-network; /etc/winux/desktop.env). */
  vncNetwork?: boolean;
  /** The desktop's VNC password file (~/.vnc/passwd), written by winux-session-init. */
  vncPassword?: string;
  /** The password file's second, view-only password. */
  vncViewOnlyPassword?: string;
  /** /etc/winux/ends-at (epoch seconds) and /etc/winux/language, written by winux-session-set (and session-init's --ends-at, --language). */
  endsAt?: number;
  language?: string;
  /** The desktop as VNC viewers see it (what they sent, refused answers). */
  desktop: VncDesktop;
  vnc?: net.Server | null;
  /** Connections the CT firewall refused, as `peer → port`. */
  refused: string[];
  /**
   * What pvestatd last reported of the running CT: `cpu` as a fraction of its cores, `mem`
   * in bytes (a test sets it to play a busy desktop; default: an idle one).
   */
  load?: { cpu: number; mem: number };
}

/** A task: the fields its UPID encodes, plus its state. */
export interface SimTask extends UpidParts {
  upid: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  log: string[];
  endtime?: number;
}

/** A running CT's CPU (fraction of its cores) and memory as pvestatd reports them; a stopped one uses none. */
export const ctCpu = (ct: SimCt): number => (ct.status === 'running' ? (ct.load?.cpu ?? 0) : 0);
export const ctMem = (ct: SimCt): number => (ct.status === 'running' ? (ct.load?.mem ?? 200 * MiB) : 0);

export const defaultTimings: SimTimings = {
  createMs: 300,
  cloneMs: 150,
  startMs: 120,
  stopMs: 60,
  destroyMs: 80,
  dhcpMs: 250,
  desktopMs: 350,
  uploadMs: 50,
  templateMs: 50,
};

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const defaultStorages = (): SimStorage[] => [
  { storage: 'local', type: 'dir', content: ['vztmpl', 'iso', 'backup'], shared: false, total: 100 * GiB, used: 10 * GiB },
  { storage: 'local-lvm', type: 'lvmthin', content: ['rootdir', 'images'], shared: false, total: 500 * GiB, used: 20 * GiB },
];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class TaskFailure extends Error {}

export interface ClusterOptions {
  nodes?: SimNodeSpec[];
  timings?: Partial<SimTimings>;
  faults?: Partial<SimFaults>;
  seed?: number;
  pools?: string[];
  rdpPort?: number;
  /** Port the desktop's Xvnc listens on in each CT (5900). */
  vncPort?: number;
  /** Datacenter firewall on (PVE's default is off). */
  clusterFirewall?: boolean;
  /**
   * Runs the simulated work this many times faster: every timing (the defaults and
   * `timings` alike, and `statsIntervalMs`) is divided by it. For scale runs that
   * create hundreds of CTs; the order of events stays the same.
   */
  speed?: number;
  /**
   * How often pvestatd pushes node and guest figures (PVE: every 10 s). When set,
   * `/cluster/resources` answers status, mem and uptime from the last push, as PVE
   * does from its RRD cache: a guest created since shows `status: "unknown"`
   * without figures, and a node's `mem` leaves out CTs started since. 0 (the
   * default): always current.
   */
  statsIntervalMs?: number;
}

/** The figures pvestatd last pushed (see `ClusterOptions.statsIntervalMs`). */
export interface SimStats {
  nodeMem: Map<string, number>;
  cts: Map<number, { status: 'running' | 'stopped'; startedAt?: number; memory: number; cores: number }>;
}

export class SimCluster {
  readonly nodes = new Map<string, SimNode>();
  readonly cts = new Map<number, SimCt>();
  readonly tasks = new Map<string, SimTask>();
  readonly pools = new Set<string>();
  /** The datacenter firewall options (cluster.fw); `enable` defaults to 0 in PVE. */
  readonly clusterFirewall: Record<string, string | number>;
  timings: SimTimings;
  faults: SimFaults;
  readonly random: () => number;
  readonly addresses = new LoopbackAddresses();
  readonly rdpPort: number;
  readonly vncPort: number;
  /** Counts of API calls by "METHOD /path/{param}", for tests that check bulk polling. */
  readonly calls = new Map<string, number>();
  /** How many calls were refused with "CT is locked (…)". */
  lockRejections = 0;
  /** The last stats push, when stats lag (`statsIntervalMs`); null: answer current figures. */
  stats: SimStats | null = null;
  private statsTimer?: NodeJS.Timeout;
  private pidCounter = 0x1000 + Math.floor(Math.random() * 0x10000);
  private closed = false;

  constructor(opts: ClusterOptions = {}) {
    const speed = opts.speed ?? 1;
    if (!(speed > 0)) throw new Error('speed must be a positive number');
    this.timings = Object.fromEntries(Object.entries({ ...defaultTimings, ...opts.timings }).map(([k, v]) => [k, v / speed])) as unknown as SimTimings;
    this.faults = { http5xxRate: 0, taskFailRate: 0, taskCrashRate: 0, latencyMs: 0, failingPaths: [], ...opts.faults };
    this.random = mulberry32(opts.seed ?? 42);
    this.rdpPort = opts.rdpPort ?? 3389;
    this.vncPort = opts.vncPort ?? 5900;
    const specs = opts.nodes ?? [{ name: 'pve1' }];
    specs.forEach((s, i) => {
      this.nodes.set(s.name, {
        name: s.name,
        maxmem: s.maxmem ?? 64 * GiB,
        baseMem: s.mem ?? 8 * GiB,
        maxcpu: s.maxcpu ?? 16,
        status: s.status ?? 'online',
        ip: this.addresses.nodeAddress(i),
        storages: new Map(defaultStorages().map((st) => [st.storage, st])),
        volumes: new Map(),
      });
    });
    for (const p of opts.pools ?? ['winux']) this.pools.add(p);
    this.clusterFirewall = { enable: opts.clusterFirewall ? 1 : 0, policy_in: 'DROP', policy_out: 'ACCEPT' };
    if (opts.statsIntervalMs) {
      this.pushStats();
      this.statsTimer = setInterval(() => this.pushStats(), opts.statsIntervalMs / speed);
      this.statsTimer.unref();
    }
  }

  /** One pvestatd cycle: node figures, then every guest's (pvestatd.pm `update_status`). */
  pushStats(): void {
    const nodeMem = new Map([...this.nodes.values()].map((n) => [n.name, this.nodeMem(n)]));
    const cts: SimStats['cts'] = new Map();
    for (const ct of this.cts.values()) {
      cts.set(ct.vmid, { status: ct.status, startedAt: ct.startedAt, memory: Number(ct.config.memory ?? 512), cores: Number(ct.config.cores ?? 1) });
    }
    this.stats = { nodeMem, cts };
  }

  /** Calls made since `before` (a copy of `calls` taken earlier), by route; routes not called are left out. */
  callsSince(before: ReadonlyMap<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [route, n] of this.calls) if (n > (before.get(route) ?? 0)) out[route] = n - (before.get(route) ?? 0);
    return out;
  }

  // ---------------------------------------------------------------- lookups

  node(name: string): SimNode {
    const n = this.nodes.get(name);
    // pve-manager answers an unknown node with this parameter error.
    if (!n) throw paramError({ node: `no such cluster node '${name}'` });
    if (n.status !== 'online') throw new PveHttpError(595, `Connection refused`);
    return n;
  }

  /** A container as seen from `node`: PVE only finds configs on the node they live on. */
  ctOn(node: string, vmid: number): SimCt {
    this.node(node);
    const ct = this.cts.get(vmid);
    if (!ct || ct.node !== node) throw noConfig(node, vmid);
    return ct;
  }

  nodeMem(n: SimNode): number {
    let mem = n.baseMem;
    for (const ct of this.cts.values()) {
      if (ct.node === n.name && ct.status === 'running') mem += Number(ct.config.memory ?? 512) * MiB;
    }
    return Math.min(mem, n.maxmem);
  }

  tags(ct: SimCt): string[] {
    return tagList(ct.config.tags as string | undefined);
  }

  // ------------------------------------------------------------ permissions

  require(auth: Auth, path: string, priv: string, pool?: string): void {
    if (!hasPriv(auth, path, priv, pool)) throw permError(path, priv);
  }

  requireVm(auth: Auth, vmid: number, priv: string): void {
    this.require(auth, `/vms/${vmid}`, priv, this.cts.get(vmid)?.pool);
  }

  /** VM.Allocate on the new vmid, or on the pool it will join (pve-container `check_ct_modify_config_perm` callers). */
  requireAllocate(auth: Auth, vmid: number, pool?: string): void {
    if (hasPriv(auth, `/vms/${vmid}`, 'VM.Allocate')) return;
    if (pool && hasPriv(auth, `/pool/${pool}`, 'VM.Allocate')) return;
    throw permError(`/vms/${vmid}`, 'VM.Allocate');
  }

  // ------------------------------------------------------------------ tasks

  private newTask(node: string, type: string, id: string, auth: Auth): SimTask {
    const now = Math.floor(Date.now() / 1000);
    const t: SimTask = {
      node,
      pid: this.pidCounter++,
      pstart: 0x100000 + Math.floor(this.random() * 0xfffff),
      starttime: now,
      type,
      id,
      user: authName(auth),
      status: 'running',
      log: [],
      upid: '',
    };
    t.upid = formatUpid(t);
    this.tasks.set(t.upid, t);
    return t;
  }

  /**
   * Forks a worker the way PVE's RPCEnvironment::fork_worker does: the UPID comes
   * back at once, the work runs afterwards, and its error becomes the exitstatus.
   */
  private fork(node: string, type: string, id: string, auth: Auth, work: (task: SimTask) => Promise<void>): string {
    const task = this.newTask(node, type, id, auth);
    setImmediate(() => {
      work(task).then(
        () => this.finish(task, task.log.some((l) => l.startsWith('WARN:')) ? `WARNINGS: ${task.log.filter((l) => l.startsWith('WARN:')).length}` : 'OK'),
        (err: unknown) => {
          if (err instanceof CrashedWorker) return this.finish(task, 'unexpected status');
          const msg = err instanceof Error ? err.message : String(err);
          task.log.push(`TASK ERROR: ${msg}`);
          this.finish(task, msg);
        },
      );
    });
    return task.upid;
  }

  private finish(task: SimTask, exitstatus: string): void {
    task.status = 'stopped';
    task.exitstatus = exitstatus;
    task.endtime = Math.floor(Date.now() / 1000);
    if (exitstatus === 'OK') task.log.push('TASK OK');
    else if (exitstatus.startsWith('WARNINGS')) task.log.push(`TASK ${exitstatus}`);
  }

  task(node: string, upid: string): SimTask {
    const t = this.tasks.get(upid);
    // A UPID asked on another node than its own is unknown there.
    if (!t || t.node !== node) throw paramError({ upid: 'no such task' });
    return t;
  }

  activeTasks(node: string, vmid?: number): SimTask[] {
    return [...this.tasks.values()].filter((t) => t.node === node && t.status === 'running' && (vmid === undefined || t.id === String(vmid)));
  }

  /** Makes the next `count` tasks of a kind ('create' | 'clone' | 'start') fail, for targeted tests. */
  failNext(kind: 'create' | 'clone' | 'start', count = 1): void {
    this.forcedFailures.set(kind, (this.forcedFailures.get(kind) ?? 0) + count);
  }

  private readonly forcedFailures = new Map<string, number>();

  private maybeFail(kind: string, vmid: number): void {
    const forced = this.forcedFailures.get(kind) ?? 0;
    if (forced > 0) this.forcedFailures.set(kind, forced - 1);
    if (forced > 0 || this.random() < this.faults.taskFailRate) {
      throw new TaskFailure(
        kind === 'start' ? `startup for container '${vmid}' failed` : `unable to create CT ${vmid} - command 'lvcreate' failed: got timeout`,
      );
    }
  }

  private maybeCrash(): void {
    if (this.random() < this.faults.taskCrashRate) throw new CrashedWorker();
  }

  // ------------------------------------------------------------- validation

  private checkVmid(vmid: unknown, key = 'vmid'): number {
    const n = Number(vmid);
    if (!Number.isInteger(n) || String(vmid).trim() === '') throw paramError({ [key]: `type check ('integer') failed - got '${String(vmid)}'` });
    if (n < 100) throw paramError({ [key]: 'value must have a minimum value of 100' });
    if (n > 999999999) throw paramError({ [key]: 'value must have a maximum value of 999999999' });
    return n;
  }

  private checkUnused(vmid: number): void {
    const existing = this.cts.get(vmid);
    if (existing) throw die(`CT ${vmid} already exists on node '${existing.node}'`);
  }

  private checkLock(ct: SimCt): void {
    if (ct.config.lock) {
      this.lockRejections++;
      throw die(`CT is locked (${ct.config.lock})`);
    }
  }

  private checkHostname(h: unknown): void {
    if (h === undefined) return;
    if (typeof h !== 'string' || !/^(?=.{1,255}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(h)) {
      throw paramError({ hostname: 'invalid format - value does not look like a valid DNS name' });
    }
  }

  private checkPool(pool: unknown): string | undefined {
    if (pool === undefined || pool === '') return undefined;
    if (!this.pools.has(String(pool))) throw die(`pool '${String(pool)}' does not exist`);
    return String(pool);
  }

  /** Config keys and the privilege each needs (pve-container `check_ct_modify_config_perm`). */
  private checkConfigPerms(auth: Auth, vmid: number, keys: string[], pool?: string): void {
    for (const key of keys) {
      let priv = 'VM.Config.Options';
      if (['cores', 'cpulimit', 'cpuunits'].includes(key)) priv = 'VM.Config.CPU';
      else if (['memory', 'swap'].includes(key)) priv = 'VM.Config.Memory';
      else if (key === 'rootfs' || /^mp\d+$/.test(key)) priv = 'VM.Config.Disk';
      else if (/^net\d+$/.test(key) || ['hostname', 'nameserver', 'searchdomain'].includes(key)) priv = 'VM.Config.Network';
      else if (['hookscript'].includes(key) || /^dev\d+$/.test(key)) {
        if (auth.user !== 'root@pam') throw permError(`/vms/${vmid}`, 'root@pam only');
      }
      if (!hasPriv(auth, `/vms/${vmid}`, priv, pool)) throw permError(`/vms/${vmid}`, priv);
    }
  }

  // ------------------------------------------------------------- operations

  /** POST /nodes/{node}/lxc */
  create(auth: Auth, nodeName: string, p: Record<string, string>): string {
    const node = this.node(nodeName);
    const vmid = this.checkVmid(p.vmid);
    if (!p.ostemplate) throw paramError({ ostemplate: 'property is missing and it is not optional' });
    this.checkHostname(p.hostname);
    if (p.password !== undefined && p.password.length < 5) throw paramError({ password: 'value must be at least 5 characters long' });
    const pool = this.checkPool(p.pool);
    this.requireAllocate(auth, vmid, pool);
    const rootfs = p.rootfs ?? `${p.storage ?? 'local'}:4`;
    const rootStorage = rootfs.split(':')[0]!;
    const st = node.storages.get(rootStorage);
    if (!st) throw die(`storage '${rootStorage}' does not exist`);
    this.require(auth, `/storage/${rootStorage}`, 'Datastore.AllocateSpace');
    const unprivileged = p.unprivileged === undefined ? 1 : Number(p.unprivileged);
    if (!unprivileged) this.require(auth, '/', 'Sys.Modify');
    const cfgKeys = Object.keys(p).filter(
      (k) =>
        ![
          'vmid',
          'ostemplate',
          'password',
          'ssh-public-keys',
          'pool',
          'start',
          'storage',
          'force',
          'unprivileged',
          'restore',
          'unique',
          'ignore-unpack-errors',
        ].includes(k),
    );
    this.checkConfigPerms(auth, vmid, cfgKeys, pool);
    this.checkUnused(vmid);

    const config: Record<string, string | number> = {
      arch: 'amd64',
      ostype: 'debian',
      hostname: p.hostname ?? `CT${vmid}`,
      memory: Number(p.memory ?? 512),
      swap: Number(p.swap ?? 512),
      cores: Number(p.cores ?? 1),
      rootfs: `${rootStorage}:vm-${vmid}-disk-0,size=${Number(rootfs.split(':')[1] ?? 4)}G`,
      unprivileged,
      lock: 'create',
    };
    for (const k of Object.keys(p))
      if (/^net\d+$/.test(k) || ['description', 'features', 'onboot', 'nameserver', 'searchdomain', 'cpulimit'].includes(k)) config[k] = p[k]!;
    if (p.tags !== undefined) config.tags = normaliseTags(p.tags);
    const ct = this.addCt(vmid, node.name, config, pool);
    ct.users.set('root', p.password ?? '');
    // Every archive in the simulator stands for the Winux desktop archive (`winux template build --format proxmox`).
    ct.winuxImage = true;

    return this.fork(node.name, 'vzcreate', String(vmid), auth, async (task) => {
      try {
        await sleep(this.timings.createMs);
        this.maybeCrash();
        this.maybeFail('create', vmid);
        if (!node.volumes.has(p.ostemplate!)) throw new TaskFailure(`unable to create CT ${vmid} - volume '${p.ostemplate}' does not exist`);
        task.log.push(`extracting archive '${p.ostemplate}'`);
        delete ct.config.lock;
      } catch (err) {
        // The vzcreate worker destroys what it created on failure; a killed worker cannot.
        if (!(err instanceof CrashedWorker)) await this.removeCt(vmid);
        throw err;
      }
      if (p.start === '1') {
        // The create worker calls the start API, which forks its own vzstart task.
        this.startCt(auth, node.name, vmid);
      }
    });
  }

  /** POST /nodes/{node}/lxc/{vmid}/clone */
  clone(auth: Auth, nodeName: string, srcVmid: number, p: Record<string, string>): string {
    const src = this.ctOn(nodeName, srcVmid);
    const newid = this.checkVmid(p.newid, 'newid');
    this.checkHostname(p.hostname);
    const pool = this.checkPool(p.pool);
    this.requireVm(auth, srcVmid, 'VM.Clone');
    this.requireAllocate(auth, newid, pool);
    const isTemplate = Number(src.config.template ?? 0) === 1;
    const full = p.full === undefined ? !isTemplate : p.full === '1' || p.full === 'true';
    if (!full && !isTemplate) throw die('linked clone feature for non-template CTs is not available');
    if (!full && p.storage) throw paramError({ storage: "parameter 'storage' not allowed for linked clones" });
    const targetNode = p.target ?? nodeName;
    this.node(targetNode);
    const srcStorage = String(src.config.rootfs).split(':')[0]!;
    if (targetNode !== nodeName && !this.node(nodeName).storages.get(srcStorage)?.shared) {
      throw die(`can't clone CT to node '${targetNode}' (CT uses local storage)`);
    }
    if (p.storage) this.require(auth, `/storage/${p.storage}`, 'Datastore.AllocateSpace');
    this.checkLock(src);
    this.checkUnused(newid);

    // The source keeps a 'disk' lock for the whole copy: concurrent clones of one template fail with "CT is locked (disk)".
    src.config.lock = 'disk';
    const config: Record<string, string | number> = { ...src.config, lock: 'create' };
    delete config.template;
    config.hostname = p.hostname ?? `CT${newid}`;
    if (p.description !== undefined) config.description = p.description;
    const size = /size=(\d+G)/.exec(String(src.config.rootfs))?.[1] ?? '4G';
    config.rootfs = `${p.storage ?? srcStorage}:${full ? '' : `base-${srcVmid}-disk-0/`}vm-${newid}-disk-0,size=${size}`;
    // Clones always get new MAC addresses.
    for (const k of Object.keys(config)) {
      if (/^net\d+$/.test(k)) config[k] = String(config[k]).replace(/hwaddr=[^,]+/, `hwaddr=${this.mac()}`);
    }
    const ct = this.addCt(newid, targetNode, config, pool);
    // The clone's filesystem is the template's: same accounts, same (usually locked) passwords.
    for (const [u, pw] of src.users) ct.users.set(u, pw);
    // pve-container clones the source's firewall config along (PVE::Firewall::clone_vmfw_conf).
    ct.firewall = structuredClone(src.firewall);
    ct.winuxImage = src.winuxImage;

    return this.fork(nodeName, 'vzclone', String(srcVmid), auth, async () => {
      try {
        await sleep(full ? this.timings.cloneMs * 4 : this.timings.cloneMs);
        this.maybeCrash();
        this.maybeFail('clone', newid);
      } catch (err) {
        if (!(err instanceof CrashedWorker)) {
          delete src.config.lock;
          await this.removeCt(newid);
        }
        throw err;
      }
      delete src.config.lock;
      delete ct.config.lock;
    });
  }

  /** POST …/status/start (also called by create with start=1). */
  startCt(auth: Auth, nodeName: string, vmid: number): string {
    const ct = this.ctOn(nodeName, vmid);
    this.requireVm(auth, vmid, 'VM.PowerMgmt');
    if (ct.status === 'running') throw die(`CT ${vmid} already running`);
    return this.fork(nodeName, 'vzstart', String(vmid), auth, async () => {
      // Lock and template checks happen inside the worker for start.
      if (ct.config.lock) throw new TaskFailure(`CT is locked (${ct.config.lock})`);
      if (Number(ct.config.template ?? 0) === 1) throw new TaskFailure("you can't start a CT if it's a template");
      await sleep(this.timings.startMs);
      if (!this.cts.has(vmid)) throw new TaskFailure(`Configuration file 'nodes/${nodeName}/lxc/${vmid}.conf' does not exist`);
      this.maybeFail('start', vmid);
      this.boot(ct);
    });
  }

  private boot(ct: SimCt): void {
    ct.status = 'running';
    ct.startedAt = Date.now();
    ct.xrdpStarted = !ct.winuxImage;
    const staticIp = /(?:^|,)ip=(\d+\.\d+\.\d+\.\d+)\//.exec(String(ct.config.net0 ?? ''))?.[1];
    const dhcp = /(?:^|,)ip=dhcp/.test(String(ct.config.net0 ?? ''));
    ct.ip = staticIp ?? (dhcp ? this.addresses.allocate() : undefined);
    if (ct.xrdpStarted) this.startDesktop(ct);
  }

  /** The desktop answers on RDP once the CT has booted far enough (and has its address), from now on. */
  private startDesktop(ct: SimCt): void {
    const ip = ct.ip;
    if (!ip || !isLoopback(ip) || ct.status !== 'running') return;
    const dhcp = /(?:^|,)ip=dhcp/.test(String(ct.config.net0 ?? ''));
    const readyAt = (ct.startedAt ?? Date.now()) + Math.max(this.timings.desktopMs, dhcp ? this.timings.dhcpMs : 0);
    ct.timers.push(
      setTimeout(
        () => {
          if (ct.status !== 'running' || this.closed || ct.rdp) return;
          const admit = (port: number) => (peer: string) => {
            const ok = this.admits(ct, peer, port);
            if (!ok) ct.refused.push(`${peer} → ${port}`);
            return ok;
          };
          // xrdp, and Xvnc on the network when session-init was told so (its desktop, started alongside).
          void Promise.all([
            listenRdp(ip, this.rdpPort, admit(this.rdpPort)),
            ct.vncNetwork ? listenVnc(ip, this.vncPort, ct.desktop, admit(this.vncPort)) : Promise.resolve(null),
          ]).then(([srv, vnc]) => {
            if (ct.status !== 'running' || this.closed || !this.cts.has(ct.vmid) || ct.rdp) {
              void closeServer(srv);
              void closeServer(vnc);
            } else {
              ct.rdp = srv;
              ct.vnc = vnc;
            }
          });
        },
        Math.max(0, readyAt - Date.now()),
      ),
    );
  }

  /**
   * `winux-session-init [--vnc-network] [--dns IP]…` inside a running CT
   * (template/files/usr/local/sbin): "user:password" on stdin, never root; creates
   * the user, sets the login and VNC passwords, then starts
   * xrdp and the desktop, whose Xvnc listens on the CT's address with
   * --vnc-network. Returns its exit code.
   */
  sessionInit(ct: SimCt, stdin: string, stderr: (s: string) => void, args: string[] = []): number {
    let vncNetwork = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '--vnc-network') vncNetwork = true;
      else if (a === '--dns' && args[i + 1]) i++;
      else if ((a === '--language' || a === '--ends-at') && args[i + 1]) i++;
      else {
        stderr(`winux-session-init: unknown option ${a}\n`);
        return 2;
      }
    }
    const info = args.filter((a, i) => a === '--language' || a === '--ends-at' || args[i - 1] === '--language' || args[i - 1] === '--ends-at');
    const creds = stdin.split('\n')[0] ?? '';
    const sep = creds.indexOf(':');
    const user = sep < 0 ? creds : creds.slice(0, sep);
    if (!user || user === 'root' || /[^a-z0-9_-]/.test(user)) {
      stderr("winux-session-init: expected 'user:password' on stdin, user not root\n");
      return 2;
    }
    if (sep < 0 || sep === creds.length - 1) {
      stderr('winux-session-init: empty password\n');
      return 2;
    }
    ct.users.set(user, creds.slice(sep + 1));
    ct.vncPassword = creds.slice(sep + 1);
    // As the template's script does: sha256sum of "winux-view-only:<password>", 8 hex digits.
    ct.vncViewOnlyPassword = createHash('sha256').update(`winux-view-only:${ct.vncPassword}`).digest('hex').slice(0, 8);
    const set = this.sessionSet(ct, [...info, '--user', user], stderr);
    if (set !== 0) return set;
    ct.vncNetwork = vncNetwork;
    if (!ct.xrdpStarted) {
      ct.xrdpStarted = true;
      this.startDesktop(ct);
    }
    return 0;
  }

  /**
   * `winux-session-set [--ends-at EPOCH] [--language fr|en --user USER]` inside a
   * running CT (template/files/usr/local/sbin): records what the desktop would show.
   */
  sessionSet(ct: SimCt, args: string[], stderr: (s: string) => void): number {
    let endsAt: number | undefined;
    let language: string | undefined;
    let user: string | undefined;
    for (let i = 0; i < args.length; i += 2) {
      const [a, v] = [args[i], args[i + 1] ?? ''];
      if (a === '--ends-at' && /^\d+$/.test(v)) endsAt = Number(v);
      else if (a === '--language' && (v === 'fr' || v === 'en')) language = v;
      else if (a === '--user') user = v;
      else {
        stderr(`winux-session-set: bad option ${a} ${v}\n`);
        return 2;
      }
    }
    if (language && (!user || user === 'root' || !ct.users.has(user))) {
      stderr('winux-session-set: --language needs --user (not root)\n');
      return 2;
    }
    if (endsAt !== undefined) ct.endsAt = endsAt;
    if (language) ct.language = language;
    return 0;
  }

  /** Does CT `ct`'s firewall let a TCP connection from `peer` reach `port`? */
  admits(ct: SimCt, peer: string, port: number): boolean {
    if (!this.cts.has(ct.vmid) || !net.isIP(peer)) return false;
    return this.packetVerdict(ct.vmid, { direction: 'in', peer, proto: 'tcp', dport: port }) === 'ACCEPT';
  }

  private async halt(ct: SimCt): Promise<void> {
    ct.status = 'stopped';
    ct.startedAt = undefined;
    for (const t of ct.timers) clearTimeout(t);
    ct.timers = [];
    const srv = ct.rdp;
    const vnc = ct.vnc;
    ct.rdp = undefined;
    ct.vnc = undefined;
    await Promise.all([closeServer(srv), closeServer(vnc)]);
  }

  /** POST …/status/stop (hard) and …/status/shutdown (clean, with forceStop). */
  stopCt(auth: Auth, nodeName: string, vmid: number, kind: 'vzstop' | 'vzshutdown'): string {
    const ct = this.ctOn(nodeName, vmid);
    this.requireVm(auth, vmid, 'VM.PowerMgmt');
    if (ct.status !== 'running') throw die(`CT ${vmid} not running`);
    return this.fork(nodeName, kind, String(vmid), auth, async () => {
      if (ct.config.lock && kind === 'vzshutdown') throw new TaskFailure(`CT is locked (${ct.config.lock})`);
      await sleep(this.timings.stopMs);
      await this.halt(ct);
    });
  }

  /** DELETE /nodes/{node}/lxc/{vmid} */
  destroyCt(auth: Auth, nodeName: string, vmid: number, p: Record<string, string>): string {
    const ct = this.ctOn(nodeName, vmid);
    this.requireVm(auth, vmid, 'VM.Allocate');
    this.checkLock(ct);
    const force = p.force === '1';
    if (ct.status === 'running' && !force) throw die(`unable to destroy CT ${vmid} - container is running`);
    if (Number(ct.config.template ?? 0) === 1) {
      const clones = [...this.cts.values()].filter((c) => String(c.config.rootfs).includes(`base-${vmid}-disk-0/`));
      if (clones.length) throw die(`base volume 'local-lvm:base-${vmid}-disk-0' is still in use by linked clone`);
    }
    ct.config.lock = 'destroyed';
    return this.fork(nodeName, 'vzdestroy', String(vmid), auth, async () => {
      await sleep(this.timings.destroyMs);
      await this.removeCt(vmid);
    });
  }

  /** POST …/template: forks a worker but returns null (the UPID is discarded). */
  makeTemplate(auth: Auth, nodeName: string, vmid: number): null {
    const ct = this.ctOn(nodeName, vmid);
    this.requireVm(auth, vmid, 'VM.Allocate');
    if (Number(ct.config.template ?? 0) === 1) throw die(`CT ${vmid} is already a template`);
    if (ct.status === 'running') throw die("can't convert a running CT into a template");
    this.checkLock(ct);
    ct.config.lock = 'template';
    this.fork(nodeName, 'vztemplate', String(vmid), auth, async () => {
      await sleep(this.timings.templateMs);
      delete ct.config.lock;
      ct.config.template = 1;
      ct.config.rootfs = String(ct.config.rootfs).replace(`vm-${vmid}-disk-0`, `base-${vmid}-disk-0`);
    });
    return null;
  }

  /**
   * PUT …/resize: forks a `resize` task (pve-container `resize_vm`). The size is
   * absolute (`10G`) or relative (`+2G`); shrinking is refused, as in PVE.
   */
  resize(auth: Auth, nodeName: string, vmid: number, p: Record<string, string>): string {
    const ct = this.ctOn(nodeName, vmid);
    this.checkConfigPerms(auth, vmid, ['rootfs'], ct.pool);
    if (p.disk !== 'rootfs' && !/^mp\d+$/.test(p.disk ?? ''))
      throw paramError({ disk: `value '${p.disk ?? ''}' does not have a value in the enumeration 'rootfs, mp0, mp1, …'` });
    const m = /^(\+)?(\d+)G$/.exec(p.size ?? '');
    if (!m) throw paramError({ size: 'value does not match the regex pattern' });
    this.checkLock(ct);
    const current = Number(/size=(\d+)G/.exec(String(ct.config.rootfs))?.[1] ?? 0);
    const wanted = m[1] ? current + Number(m[2]) : Number(m[2]);
    if (wanted < current) throw die('unable to shrink disk size');
    return this.fork(nodeName, 'resize', String(vmid), auth, async () => {
      ct.config.rootfs = String(ct.config.rootfs).replace(/size=\d+G/, `size=${wanted}G`);
    });
  }

  /** PUT …/config (synchronous). */
  updateConfig(auth: Auth, nodeName: string, vmid: number, p: Record<string, string>): null {
    const ct = this.ctOn(nodeName, vmid);
    if (p.digest && p.digest !== this.digest(ct)) throw die('detected modified configuration - file changed by other user? Try again.');
    const keys = Object.keys(p).filter((k) => !['digest', 'delete', 'revert'].includes(k));
    this.checkConfigPerms(auth, vmid, keys, ct.pool);
    this.checkLock(ct);
    if (p.hostname !== undefined) this.checkHostname(p.hostname);
    for (const k of keys) {
      if (['lock', 'template'].includes(k)) throw paramError({ [k]: 'property is not defined in schema and the schema does not allow additional properties' });
      ct.config[k] = k === 'tags' ? normaliseTags(p[k]!) : ['memory', 'swap', 'cores'].includes(k) ? Number(p[k]) : p[k]!;
    }
    for (const k of (p.delete ?? '').split(/[,;\s]+/).filter(Boolean)) delete ct.config[k];
    return null;
  }

  configOf(ct: SimCt): Record<string, unknown> {
    return { ...ct.config, digest: this.digest(ct) };
  }

  digest(ct: SimCt): string {
    return createHash('sha1').update(JSON.stringify(ct.config)).digest('hex');
  }

  /** GET …/interfaces: null when not running; lo + link-local until DHCP is done. */
  interfaces(nodeName: string, vmid: number): unknown {
    const ct = this.ctOn(nodeName, vmid);
    if (ct.status !== 'running') return null;
    const mac = /hwaddr=([^,]+)/.exec(String(ct.config.net0 ?? ''))?.[1]?.toLowerCase() ?? 'bc:24:11:00:00:01';
    const ll = linkLocalOf(mac);
    const lo = {
      name: 'lo',
      hwaddr: '00:00:00:00:00:00',
      'hardware-address': '00:00:00:00:00:00',
      inet: '127.0.0.1/8',
      inet6: '::1/128',
      'ip-addresses': [
        { 'ip-address': '127.0.0.1', 'ip-address-type': 'inet', prefix: 8 },
        { 'ip-address': '::1', 'ip-address-type': 'inet6', prefix: 128 },
      ],
    };
    if (!ct.config.net0) return [lo];
    const dhcp = /(?:^|,)ip=dhcp/.test(String(ct.config.net0));
    const hasV4 = ct.ip && (!dhcp || Date.now() - (ct.startedAt ?? 0) >= this.timings.dhcpMs);
    const eth0: Record<string, unknown> = {
      name: 'eth0',
      hwaddr: mac,
      'hardware-address': mac,
      inet6: `${ll}/64`,
      'ip-addresses': [{ 'ip-address': ll, 'ip-address-type': 'inet6', prefix: 64 }],
    };
    if (hasV4) {
      const prefix = Number(/ip=[\d.]+\/(\d+)/.exec(String(ct.config.net0))?.[1] ?? 8);
      eth0.inet = `${ct.ip}/${prefix}`;
      (eth0['ip-addresses'] as unknown[]).unshift({ 'ip-address': ct.ip, 'ip-address-type': 'inet', prefix });
    }
    return [lo, eth0];
  }

  statusCurrent(nodeName: string, vmid: number): Record<string, unknown> {
    const ct = this.ctOn(nodeName, vmid);
    const out: Record<string, unknown> = {
      vmid,
      status: ct.status,
      name: ct.config.hostname,
      type: 'lxc',
      maxmem: Number(ct.config.memory) * MiB,
      mem: ctMem(ct),
      maxswap: Number(ct.config.swap) * MiB,
      maxdisk: 8 * GiB,
      disk: 0,
      cpu: ctCpu(ct),
      cpus: Number(ct.config.cores),
      uptime: ct.startedAt ? Math.floor((Date.now() - ct.startedAt) / 1000) : 0,
      netin: 0,
      netout: 0,
      ha: { managed: 0 },
    };
    if (ct.config.lock) out.lock = ct.config.lock;
    if (ct.config.tags) out.tags = ct.config.tags;
    if (ct.config.template) out.template = 1;
    return out;
  }

  /** POST /nodes/{node}/storage/{storage}/upload: the file is stored by an imgcopy task. */
  upload(auth: Auth, nodeName: string, storage: string, content: string, filename: string, size: number): string {
    const node = this.node(nodeName);
    const st = node.storages.get(storage);
    if (!st) throw die(`storage '${storage}' does not exist`);
    this.require(auth, `/storage/${storage}`, 'Datastore.AllocateTemplate');
    if (!['vztmpl', 'iso'].includes(content))
      throw paramError({ content: `value '${content}' does not have a value in the enumeration 'iso, vztmpl, import'` });
    if (!st.content.includes(content)) throw die(`storage '${storage}' does not support '${content}' content`);
    if (content === 'vztmpl' && !/\.tar\.(gz|xz|zst)$/.test(filename)) throw die('wrong file extension');
    if (!/^[A-Za-z0-9_.+-]+$/.test(filename)) throw die(`invalid filename '${filename}'`);
    return this.fork(nodeName, 'imgcopy', '', auth, async () => {
      await sleep(this.timings.uploadMs);
      const volid = `${storage}:${content}/${filename}`;
      node.volumes.set(volid, { volid, content: content as 'vztmpl', size, format: filename.split('.').slice(-2).join('.') });
      st.used += size;
    });
  }

  /** What pve-firewall would do with `packet` on CT `vmid`'s eth0 (see firewall.ts `verdict`). */
  packetVerdict(vmid: number, packet: Packet): 'ACCEPT' | 'DROP' | 'REJECT' {
    const ct = this.cts.get(vmid);
    if (!ct) throw new Error(`no CT ${vmid}`);
    const nic = /(?:^|,)firewall=1(?:,|$)/.test(String(ct.config.net0 ?? ''));
    return verdict(ct.firewall, { cluster: Number(this.clusterFirewall.enable ?? 0) === 1, nic }, packet);
  }

  /** Test helper: a CT template that already exists, as `winux template push` would leave it. */
  addTemplate(nodeName: string, vmid: number, hostname = 'winux-template', tags = 'winux-template', accounts = ['root', 'winux']): SimCt {
    const node = this.nodes.get(nodeName)!;
    const ct = this.addCt(vmid, node.name, {
      arch: 'amd64',
      ostype: 'debian',
      hostname,
      memory: 1024,
      swap: 512,
      cores: 2,
      rootfs: `local-lvm:base-${vmid}-disk-0,size=8G`,
      net0: `name=eth0,bridge=vmbr0,hwaddr=${this.mac()},ip=dhcp,type=veth`,
      unprivileged: 1,
      template: 1,
      tags: normaliseTags(tags),
    });
    for (const a of accounts) ct.users.set(a, '');
    ct.winuxImage = true;
    return ct;
  }

  /**
   * Test helper: a running session CT as the Winux provider leaves one (a linked
   * clone of `node`'s template, tagged, in the pool), without its RDP stand-in:
   * for tests that need many live sessions and only list them.
   */
  addRunningSessionCt(nodeName: string, vmid: number, tags: string, template: number, pool = 'winux'): SimCt {
    const ct = this.addCt(
      vmid,
      nodeName,
      {
        arch: 'amd64',
        ostype: 'debian',
        hostname: `winux-${vmid}`,
        memory: 1024,
        swap: 512,
        cores: 2,
        rootfs: `local-lvm:base-${template}-disk-0/vm-${vmid}-disk-0,size=10G`,
        net0: `name=eth0,bridge=vmbr0,hwaddr=${this.mac()},ip=dhcp,firewall=1,type=veth`,
        unprivileged: 1,
        tags: normaliseTags(tags),
      },
      pool,
    );
    ct.winuxImage = true;
    ct.status = 'running';
    ct.startedAt = Date.now();
    ct.ip = this.addresses.allocate();
    return ct;
  }

  /** Test helper: a CT nobody here created (someone else's VM in our id range). */
  addForeignCt(nodeName: string, vmid: number): SimCt {
    return this.addCt(vmid, nodeName, {
      arch: 'amd64',
      ostype: 'debian',
      hostname: `other-${vmid}`,
      memory: 512,
      swap: 512,
      cores: 1,
      rootfs: `local-lvm:vm-${vmid}-disk-0,size=4G`,
      unprivileged: 1,
    });
  }

  private addCt(vmid: number, node: string, config: Record<string, string | number>, pool?: string): SimCt {
    // Xvnc rereads its password file at each connection: the desktop asks the CT for it.
    const desktop: VncDesktop = {
      vmid,
      width: 160,
      height: 100,
      password: () => ct.vncPassword,
      viewOnlyPassword: () => ct.vncViewOnlyPassword,
      input: [],
      authFailures: 0,
    };
    const ct: SimCt = {
      vmid,
      node,
      status: 'stopped',
      config,
      pool,
      timers: [],
      users: new Map(),
      firewall: emptyFirewall(),
      winuxImage: false,
      refused: [],
      desktop,
    };
    this.cts.set(vmid, ct);
    return ct;
  }

  private async removeCt(vmid: number): Promise<void> {
    const ct = this.cts.get(vmid);
    if (!ct) return;
    await this.halt(ct);
    this.cts.delete(vmid);
  }

  /** `pct unlock <vmid>` */
  unlock(vmid: number): void {
    const ct = this.cts.get(vmid);
    if (ct) delete ct.config.lock;
  }

  mac(): string {
    const b = randomBytes(3);
    return `BC:24:11:${[...b].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(':')}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.statsTimer);
    await Promise.all([...this.cts.values()].map((ct) => this.halt(ct)));
  }
}

/** The EUI-64 link-local address a NIC with this MAC gets (RFC 4291 appendix A). */
function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const groups = [0, 2, 4, 6].map((i) => ((eui[i]! << 8) | eui[i + 1]!).toString(16));
  return `fe80::${groups.join(':')}`;
}

/** Thrown inside a worker to model a worker process killed mid-way (locks stay). */
export class CrashedWorker extends Error {}
