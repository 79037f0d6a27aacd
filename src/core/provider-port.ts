// The Provider port, owned by the core (like JupyterHub's Spawner): a handful of methods whose
// edge states are documented. Names are derived from the container id
// (`winux-30001`), so `create` adopts what already exists and `destroy` treats
// "not found" as done.
import type { Duplex, Readable } from 'node:stream';
import type { DesktopName } from './desktops.ts';
import type { Language } from './languages.ts';
import type { CreationStep } from './session.ts';

/**
 * The provider's own description of a machine; the store keeps it verbatim. Always
 * carries the container id; `certSha256`, when the provider read it, is the SHA-256
 * fingerprint of the desktop's RDP (TLS) certificate, shown so a careful user can
 * check what their client is told to accept.
 */
export type ProviderRef = { containerId: number; certSha256?: string } & Record<string, unknown>;

export interface CreateSpec {
  sessionId: string;
  containerId: number;
  /** Host name for the machine, derived from the session. */
  hostname: string;
  username: string;
  /** Set before anyone can connect. Never logged, never on a command line. */
  password: string;
  memoryMb: number;
  cores: number;
  diskGb: number;
  pidsMax: number;
  /** Which desktop's template to clone (core/desktops.ts), one of WINUX_DESKTOPS; XFCE when absent. */
  desktop?: DesktopName;
  /** The visitor's language: the desktop's locale, keyboard layout and folder names (default fr). */
  language?: Language;
  /** When the session ends (epoch ms), shown inside the desktop; pushed again by `setSessionInfo` on extension. */
  endsAt?: number;
}

export { defaultLanguage, languages, type Language } from './languages.ts';

/**
 * What the desktop shows about its session, pushed in by Winux: nothing in the
 * machine may reach Winux (its firewall forbids it), so the machine is told.
 */
export interface SessionInfo {
  /** The end (epoch ms): the panel's time left and the 5- and 1-minute warnings follow it. */
  endsAt: number;
  /** Switches the locale and keyboard of a running desktop (warm-pool claims); absent: unchanged. */
  language?: Language;
}

/** A file in the desktop user's share folder (~/Partage, ~/Share). */
export interface SharedFile {
  name: string;
  size: number;
  /** Last modification, epoch ms. */
  modifiedAt: number;
}

/**
 * Files in and out of the desktop user's folders. Every read and write runs
 * inside the machine AS the desktop user (never through the host's view of the
 * machine's filesystem, where a symlink the visitor made could redirect a root
 * write), with the data streamed through the command's stdin/stdout.
 */
export interface DesktopFiles {
  /** Streams `data` into ~/Téléchargements (~/Downloads) as `name`, or a free variant of it; resolves with the name given. */
  put(ref: ProviderRef, name: string, data: Readable, signal?: AbortSignal): Promise<string>;
  list(ref: ProviderRef): Promise<SharedFile[]>;
  /** One shared file (`name`), or the whole folder as a zip (null), streamed. */
  get(ref: ProviderRef, name: string | null, signal?: AbortSignal): Promise<Readable>;
}

export interface CreateContext {
  /** Aborted when creation times out or the server shuts down: stop soon, leave what exists for `destroy`. */
  signal: AbortSignal;
  /** Reports a step the page can show; cheap and safe to call often. */
  progress(step: CreationStep): void;
}

export interface CreatedMachine {
  ref: ProviderRef;
  node: string | null;
  /** The machine's own address (inside the provider's network). */
  ip: string;
  /** Where an RDP client connects from the user's side; null host means "Winux's public host". */
  endpoint: { host: string | null; port: number };
  /** The user to log in as, when not `spec.username` (e.g. Proxmox without SSH, where only root's password can be set). */
  username?: string;
}

export type MachineState = 'running' | 'stopped' | 'missing';

export interface ManagedMachine {
  containerId: number;
  ref: ProviderRef;
  state: MachineState;
}

export interface ProviderCheck {
  name: string;
  ok: boolean;
  /**
   * The check could not tell (e.g. the token's permissions cannot be read): reported as
   * "unknown", not as a failure, and it does not make /health answer 503 by itself.
   */
  unknown?: boolean;
  /** What was found, or what to fix when not ok. */
  detail: string;
}

/** One machine's use of the host now: CPU in % of one core (null until two samples are known), memory in bytes. */
export interface MachineUsage {
  cpuPercent: number | null;
  memoryBytes: number;
}

/** One host's figures (LXC: this machine; Proxmox: each node). Null where the provider cannot tell. */
export interface HostFigures {
  node: string;
  online: boolean;
  cpus: number | null;
  /** CPU use of the whole host, 0–100. */
  cpuPercent: number | null;
  memoryTotalBytes: number | null;
  memoryUsedBytes: number | null;
  diskTotalBytes: number | null;
  diskUsedBytes: number | null;
  /** Load average over 1, 5 and 15 minutes. */
  load: number[] | null;
}

/** One built template: where it is, which recipe it came from, when, how big. */
export interface TemplateCopy {
  /** LXC: this host's name; Proxmox: the node holding the CT template. */
  node: string;
  /** What the template is called there (LXC container name, Proxmox vmid and hostname). */
  name: string;
  /** The recipe hash it was built from, when known. */
  hash: string | null;
  /** When it was built (ms since the epoch), when known. */
  builtAt: number | null;
  /** Size of its archive in bytes, when known. */
  archiveBytes: number | null;
}

export interface TemplateStatus {
  /** The hash of the recipe in this Winux's template/ directory, when the provider builds from it. */
  recipeHash: string | null;
  copies: TemplateCopy[];
  /** Whether `rebuildTemplate` is offered here, and why not when it is not (shown to the admin). */
  rebuild: { offered: true } | { offered: false; reason: string };
}

export type TemplateProgressEvent = { step: string; detail?: string };

export interface Provider {
  /** The short name the factory knows it by (providers/index.ts), shown by /health and /info. */
  readonly name: string;
  /** Creates (or adopts) the machine and resolves once a real RDP login can succeed. Throws ProviderError. */
  create(spec: CreateSpec, ctx: CreateContext): Promise<CreatedMachine>;
  /** Stops and removes everything the machine used. Resolves when it is gone; "not found" is success. */
  destroy(ref: ProviderRef): Promise<void>;
  /** Where the machine stands now. */
  status(ref: ProviderRef): Promise<MachineState>;
  /** Every machine this Winux manages (by naming convention, tag or pool), for orphan removal. */
  list(): Promise<ManagedMachine[]>;
  /** Quick checks for `/health` and `winux doctor`. */
  check(): Promise<ProviderCheck[]>;
  /** Pushes the end time (and at claims the language) into the running desktop; absent: the desktop shows neither. */
  setSessionInfo?(ref: ProviderRef, username: string, info: SessionInfo): Promise<void>;
  /** Upload and download; absent: the provider offers no file transfer. */
  files?: DesktopFiles;
  /**
   * A connected stream to the machine's VNC server (the desktop the session runs
   * from its start), for the browser viewer. The server asks for VNC
   * authentication with the session password; the core does that handshake.
   * Absent: the provider offers no browser desktop.
   */
  openDesktop?(ref: ProviderRef, signal?: AbortSignal): Promise<Duplex>;
  /**
   * CPU and memory of these machines now, keyed by container id; a machine the
   * provider cannot read is left out. Called by one sampling loop (core/usage-sampler.ts),
   * never per request. Absent: the provider cannot tell.
   */
  usage?(refs: ProviderRef[]): Promise<Map<number, MachineUsage>>;
  /** The host or nodes sessions run on, with their figures. */
  hosts?(): Promise<HostFigures[]>;
  /** Which desktop template is built, where. */
  templateStatus?(): Promise<TemplateStatus>;
  /**
   * Builds the template from the recipe again, reporting each step. Running
   * sessions keep their own copy. Offered only when `templateStatus().rebuild.offered`.
   */
  rebuildTemplate?(progress: (e: TemplateProgressEvent) => void, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}
