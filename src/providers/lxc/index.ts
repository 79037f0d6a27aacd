// The local LXC provider: each session is an unprivileged overlay clone of the
// desktop template on this host, reachable through its own gateway port.
//
//   create:  clone → own disk (WINUX_DISK_GB) → configure (limits, static IP, hostname) → start →
//            winux-session-init (password and a fresh TLS key from the stock via stdin, then xrdp) →
//            open the gateway port → wait for a real RDP/TLS handshake through it
//   destroy: close the port → stop → unmount and delete the disk → lxc-destroy (overlay, config, logs)
//
// Everything is derived from the container id (name, address, port), so create
// adopts a half-made container and destroy needs nothing but the id.
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { defaultDesktop } from '../../core/desktops.ts';
import { ContainerIdTakenError, ProviderError } from '../../core/errors.ts';
import type {
  CreateContext,
  CreatedMachine,
  CreateSpec,
  MachineState,
  ManagedMachine,
  Provider,
  ProviderCheck,
  ProviderRef,
  SessionInfo,
} from '../../core/provider-port.ts';
import { defaultLanguage } from '../../core/provider-port.ts';
import {
  cloneFromTemplate,
  desktopSocketPath,
  rdpCertificateSha256,
  destroyContainer,
  initSession,
  lxcState,
  setSessionInfo as pushSessionInfo,
  runningNames,
  safeHostname,
  sessionContainerNames,
  startContainer,
} from './container.ts';
import { diskScheduler, ensureSessionsCgroup, hostCapacity } from './cgroups.ts';
import { commandExists } from './exec.ts';
import { hasRootIdMap, hasSessionIdSpace, sessionIdSpace } from './idmap.ts';
import { containerIdOf, containerIp, containerName, rdpPort } from './naming.ts';
import { bridgeState, closeRdpPort, ensureNetworkOnce, forwardedContainers, hostListensOn, openRdpPort, sessionDns } from './network.ts';
import { probeRdp } from './rdp-probe.ts';
import { lxcDesktopFiles } from './files.ts';
import { templateControl, templateName, templateState } from './template.ts';
import { createTlsKeyStock, type TlsKeyStock } from './tls-key-stock.ts';
import { createHostReader, createUsageReader } from './usage.ts';

/** How long a started desktop may take to answer an RDP handshake before creation fails. */
const desktopTimeoutMs = 120_000;

function refOf(config: Config, containerId: number): ProviderRef {
  return { containerId, name: containerName(containerId), ip: containerIp(config, containerId), port: rdpPort(config, containerId) };
}

function idOf(ref: ProviderRef): number {
  const id = Number(ref.containerId);
  if (!Number.isInteger(id) || id <= 0) throw new ProviderError(`invalid LXC reference: containerId ${String(ref.containerId)}`);
  return id;
}

async function waitForRdp(host: string, port: number, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  // A refused local connection costs well under a millisecond: poll finely, since
  // every interval skipped is time the visitor waits (a growing back-off cost ~0.3 s here).
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    try {
      await probeRdp(host, port, 2000);
      return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ProviderError(`The desktop did not answer an RDP handshake within ${timeoutMs / 1000} s (${(last as Error)?.message ?? 'no answer'})`, true);
}

/** Resolves with the socket once connected; an abort or a refusal rejects (and closes it). */
function connectStream(socket: net.Socket, signal: AbortSignal | undefined, name: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.destroy();
      reject(new ProviderError(`The desktop of ${name} did not answer: ${err.message}`, true, { cause: err }));
    };
    if (signal?.aborted) return fail(new Error('aborted'));
    const onAbort = () => fail(new Error('timed out'));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
  });
}

/** `tlsKeys`: where session TLS keys come from (tests hand in a stock that records them). */
export function createLxcProvider(config: Config, logger: Logger, options: { tlsKeys?: TlsKeyStock } = {}): Provider {
  const log = logger.child({ provider: 'lxc' });
  // The bridge, rules and veth hook must exist before any start. `winux serve`
  // prepares them, but a host rebooted since (or `--no-prepare`) would lack them:
  // checking once per process is cheap (a few iptables -C calls).
  let networkReady: Promise<unknown> | undefined;
  // Session TLS keys made ahead, off the click's path (see tls-key-stock.ts).
  const tlsKeys = options.tlsKeys ?? createTlsKeyStock();

  async function create(spec: CreateSpec, ctx: CreateContext): Promise<CreatedMachine> {
    const id = spec.containerId;
    const name = containerName(id);
    const ref = refOf(config, id);
    const ip = containerIp(config, id);
    const port = rdpPort(config, id);
    const slog = log.child({ sessionId: spec.sessionId, container: name });
    const { signal } = ctx;
    // Taken first: the stock does not refill while this create runs.
    const tlsKey = tlsKeys.take();
    try {
      // The gateway port belongs to this id; if another program on the host
      // listens there, this id cannot be used (the core moves to another one).
      if (await hostListensOn(port)) throw new ContainerIdTakenError(id, os.hostname());
      ctx.progress('cloning');
      await cloneFromTemplate(
        config,
        id,
        safeHostname(spec.hostname, name),
        { memoryMb: spec.memoryMb, cores: spec.cores, pidsMax: spec.pidsMax, diskGb: spec.diskGb },
        templateName(config, spec.desktop),
        signal,
      );
      signal.throwIfAborted();

      ctx.progress('starting');
      await (networkReady ??= Promise.all([ensureNetworkOnce(config), ensureSessionsCgroup(config)]).catch((err) => {
        networkReady = undefined;
        throw err;
      }));
      await startContainer(config, name, signal);
      const dns = await sessionDns(config);
      // Password and TLS key first; xrdp only starts after them (see winux-session-init).
      const info = { language: spec.language ?? defaultLanguage, endsAt: spec.endsAt };
      await initSession(config, name, { username: spec.username, password: spec.password, tlsKey }, dns.servers, info, signal);
      signal.throwIfAborted();

      ctx.progress('network');
      await openRdpPort(id, port, ip);

      ctx.progress('desktop');
      // Through the gateway, as a client would come: proves the forwarding too.
      await waitForRdp('127.0.0.1', port, signal, desktopTimeoutMs);
      // Shown on the page and in the API, so a careful user can check what their RDP client is told to accept.
      const certSha256 = await rdpCertificateSha256(config, name);
      slog.info({ ip, port }, 'desktop ready');
      return { ref: { ...ref, certSha256 }, node: os.hostname(), ip, endpoint: { host: null, port } };
    } catch (err) {
      if (signal.aborted) throw new ProviderError(`Creating ${name} was cancelled`, false, { cause: err });
      if (err instanceof ProviderError) throw err; // includes ContainerIdTakenError
      slog.error({ err }, 'creating the desktop failed');
      throw new ProviderError(`Creating the desktop ${name} failed: ${(err as Error).message}`, true, { cause: err });
    } finally {
      tlsKeys.release();
    }
  }

  async function destroy(ref: ProviderRef): Promise<void> {
    const id = idOf(ref);
    const name = containerName(id);
    try {
      await closeRdpPort(id);
      await destroyContainer(config, name);
      log.info({ container: name }, 'desktop destroyed');
    } catch (err) {
      throw new ProviderError(`Destroying ${name} failed: ${(err as Error).message}`, true, { cause: err });
    }
  }

  async function status(ref: ProviderRef): Promise<MachineState> {
    const state = await lxcState(config, containerName(idOf(ref)));
    if (state === 'MISSING') return 'missing';
    return state === 'RUNNING' ? 'running' : 'stopped';
  }

  async function list(): Promise<ManagedMachine[]> {
    const [names, running, forwarded] = await Promise.all([sessionContainerNames(config), runningNames(config), forwardedContainers()]);
    const ids = new Set(names.map((n) => containerIdOf(n)!));
    // A forwarding rule without its container (killed half-way) is an orphan too.
    for (const id of forwarded.keys()) ids.add(id);
    return [...ids]
      .sort((a, b) => a - b)
      .map((containerId) => {
        const name = containerName(containerId);
        const state: MachineState = running.has(name) ? 'running' : names.includes(name) ? 'stopped' : 'missing';
        return { containerId, ref: { containerId, name }, state };
      });
  }

  async function check(): Promise<ProviderCheck[]> {
    const checks: ProviderCheck[] = [];
    const isRoot = process.getuid?.() === 0;
    checks.push({ name: 'lxc.root', ok: isRoot, detail: isRoot ? 'running as root' : 'the local LXC provider needs root' });
    const tools = [
      'lxc-copy',
      'lxc-start',
      'lxc-attach',
      'lxc-destroy',
      'lxc-usernsexec',
      'iptables',
      'bridge',
      'zstd',
      'mkfs.ext4',
      'losetup',
      '/usr/bin/python3',
    ];
    const missing: string[] = [];
    for (const t of tools) if (!(await commandExists(t))) missing.push(t);
    checks.push({
      name: 'lxc.tools',
      ok: missing.length === 0,
      detail: missing.length
        ? `missing: ${missing.join(', ')} (run scripts/setup-host.sh)`
        : 'lxc, iptables, iproute2, zstd, e2fsprogs, losetup, python3 present',
    });
    const idmap = hasRootIdMap();
    checks.push({
      name: 'lxc.idmap',
      ok: idmap,
      detail: idmap ? 'root has a sub-id range for unprivileged containers' : 'add root:100000:65536 to /etc/subuid and /etc/subgid',
    });
    const space = sessionIdSpace();
    const spaced = hasSessionIdSpace();
    checks.push({
      name: 'lxc.session-ids',
      ok: spaced,
      detail: spaced
        ? `each session has its own uid range (root:${space.start}:${space.count})`
        : `add root:${space.start}:${space.count} to /etc/subuid and /etc/subgid (winux serve does)`,
    });
    const br = await bridgeState(config.lxc.bridge);
    checks.push({
      name: 'lxc.bridge',
      ok: br.exists && br.up,
      detail: br.exists
        ? `${config.lxc.bridge} ${br.up ? 'up' : 'down'} ${br.addresses.join(' ')}`
        : `bridge ${config.lxc.bridge} missing (winux serve --setup creates it)`,
    });
    for (const desktop of config.desktops) {
      // XFCE's check keeps its name (dashboards and scripts read it).
      const name = desktop === defaultDesktop ? 'lxc.template' : `lxc.template.${desktop}`;
      const build = desktop === defaultDesktop ? 'winux template build' : `winux template build --desktop ${desktop}`;
      try {
        const t = await templateState(config, desktop);
        checks.push({
          name,
          ok: t.installed,
          detail: t.installed ? `${desktop} template ${t.hash} installed` : `${desktop} template for recipe ${t.hash} not built (run: ${build})`,
        });
      } catch (err) {
        checks.push({ name, ok: false, detail: (err as Error).message });
      }
    }
    const cap = hostCapacity(config);
    checks.push({
      name: 'lxc.capacity',
      ok: cap.max > 0,
      detail: `${cap.max} sessions of ${cap.sessionMemoryMb} MiB (limited by ${cap.by}: ${cap.ids} ids, ${cap.sessionsMemoryMb} MiB for all sessions, ${cap.diskFreeGb.toFixed(0)} GiB free / ${cap.sessionDiskGb} GiB each)${config.maxSessionsSet ? `; WINUX_MAX_SESSIONS=${config.maxSessions} set` : ''}`,
    });
    const scheduler = diskScheduler(config.lxc.path);
    checks.push({
      // Not a failure: sessions still run, but one can slow the others' disk down.
      name: 'lxc.io',
      ok: true,
      detail:
        scheduler === 'bfq'
          ? "the sessions' disk uses BFQ: IO weights share it"
          : `the sessions' disk scheduler is ${scheduler ?? 'unknown'}: IO weights take effect with bfq (echo bfq > /sys/block/<disk>/queue/scheduler)`,
    });
    const ports = config.lxc.rdpPortMax - config.lxc.rdpPortMin + 1;
    const ids = config.containerIdMax - config.containerIdMin + 1;
    checks.push({
      name: 'lxc.ports',
      ok: ports >= ids,
      detail:
        ports >= ids
          ? `RDP ports ${config.lxc.rdpPortMin}-${config.lxc.rdpPortMax} cover ${ids} container ids`
          : `WINUX_RDP_PORT_MIN..MAX has ${ports} ports for ${ids} container ids: widen it`,
    });
    return checks;
  }

  async function openDesktop(ref: ProviderRef, signal?: AbortSignal): Promise<Duplex> {
    const name = containerName(idOf(ref));
    const socketPath = await desktopSocketPath(config, name).catch((err: Error) => {
      throw new ProviderError(`The desktop of ${name} cannot be reached: ${err.message}`, true, { cause: err });
    });
    return connectStream(net.connect({ path: socketPath }), signal, name);
  }

  async function setSessionInfo(ref: ProviderRef, username: string, info: SessionInfo): Promise<void> {
    await pushSessionInfo(config, containerName(idOf(ref)), username, info);
  }

  const files = lxcDesktopFiles(config, () => config.desktopUser);

  return {
    name: 'lxc',
    create,
    destroy,
    status,
    list,
    check,
    setSessionInfo,
    openDesktop,
    files,
    usage: createUsageReader(),
    hosts: createHostReader(config),
    ...templateControl(config, log),
  };
}
