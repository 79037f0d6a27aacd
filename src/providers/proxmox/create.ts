// Creating one session's desktop: place it, clone the node's Winux template (or
// create from the vztmpl archive), tag and size it, start it, find its address,
// set the session's password, and wait until RDP answers. Anything left behind
// by a failure is for `destroy` (the core always calls it).
import { defaultDesktop } from '../../core/desktops.ts';
import { ProviderError } from '../../core/errors.ts';
import type { CreateContext, CreatedMachine, CreateSpec } from '../../core/provider-port.ts';
import { pollUntil } from './backoff.ts';
import { readCluster, tagsOf } from './cluster-view.ts';
import type { ProxmoxContext } from './context.ts';
import { destroyVm } from './destroy.ts';
import { protectCt } from './firewall.ts';
import { ContainerIdTakenError, noSshKeyMessage } from './errors.ts';
import { createFromArchive, createGuest, ctPath, isManaged, startCt } from './guest-ops.ts';
import { addressFor, staticNetParams } from './ip-pool.ts';
import { chooseNode } from './placement.ts';
import { ensurePool } from './pool.ts';
import { hostnameFor, sessionTag, sessionTags, templateTagFor } from './naming.ts';
import { waitForPort } from './readiness.ts';
import { setPasswordInCt } from './ssh-pct.ts';
import { sessionSetArgs } from '../session-set.ts';
import { defaultLanguage } from '../../core/provider-port.ts';
import { templatesByNode } from './templates.ts';
import { waitForTask } from './tasks.ts';

const MiB = 1024 ** 2;

export async function createMachine(ctx: ProxmoxContext, spec: CreateSpec, cctx: CreateContext): Promise<CreatedMachine> {
  const { signal } = cctx;
  const vmid = spec.containerId;
  const log = ctx.logger.child({ session: spec.sessionId, vmid });
  const px = ctx.config.proxmox;
  cctx.progress('allocating');
  await ensurePool(ctx, signal);

  let view = await readCluster(ctx.client, signal);
  const existing = view.vms.find((v) => v.vmid === vmid);
  if (existing) {
    if (!isManaged(existing) || Number(existing.template ?? 0) === 1) throw new ContainerIdTakenError(vmid, existing.node);
    if (tagsOf(existing).includes(sessionTag(spec.sessionId)) && existing.status === 'running' && !existing.lock) {
      // This session's own CT from an attempt cut short (e.g. a restart): carry on from where it is.
      log.info({ node: existing.node }, 'adopting the existing container of this session');
      return finish(ctx, existing.node, spec, cctx);
    }
    log.info({ node: existing.node }, 'removing a leftover Winux container before reusing its id');
    await destroyVm(ctx, vmid, signal);
    view = await readCluster(ctx.client, signal);
  }

  const desktop = spec.desktop ?? defaultDesktop;
  const templates = templatesByNode(view.vms, px.template, desktop);
  // The create-from-archive fallback (WINUX_PROXMOX_OSTEMPLATE) is one archive: XFCE's.
  const mode = templates.size ? 'clone' : px.ostemplate && desktop === defaultDesktop ? 'create' : null;
  if (!mode) {
    throw new ProviderError(
      desktop === defaultDesktop
        ? 'No Winux CT template found on the Proxmox nodes: run `winux template push`, or set WINUX_PROXMOX_TEMPLATE / WINUX_PROXMOX_OSTEMPLATE'
        : `No ${desktop} CT template (tag ${templateTagFor(desktop)}) found on the Proxmox nodes: run \`winux template push --desktop ${desktop}\``,
    );
  }
  // Every session CT has the same size: another Winux's that the figures miss counts as this one's.
  ctx.reservations.settle(view.vms, (v) => (isManaged(v) && Number(v.template ?? 0) !== 1 ? spec.memoryMb * MiB : 0));
  const node = chooseNode({
    nodes: view.nodes,
    allowed: px.nodes,
    eligible: mode === 'clone' ? new Set(templates.keys()) : undefined,
    reservations: ctx.reservations,
    needBytes: spec.memoryMb * MiB,
  });
  const release = ctx.reservations.add(node, spec.memoryMb * MiB, vmid);
  let created = false;
  try {
    const hostname = hostnameFor(spec.hostname, vmid);
    const description = JSON.stringify({ winux: { session: spec.sessionId, created: new Date().toISOString() } });
    const staticIp = ctx.ipPool ? addressFor(ctx.ipPool, vmid, ctx.config.containerIdMin) : undefined;
    const ipParams = staticIp ? staticNetParams(ctx.ipPool!, staticIp) : 'ip=dhcp';
    cctx.progress('cloning');
    if (mode === 'clone') {
      const tpl = templates.get(node)!;
      log.info({ node, template: tpl }, 'cloning the Winux template');
      // One clone at a time per template: PVE holds a 'disk' lock on the source for the whole copy.
      await ctx.queues.run(`${node}/${tpl}`, () =>
        createGuest(
          ctx,
          {
            path: `${ctPath(node, tpl)}/clone`,
            node,
            vmid,
            lockHolder: { node, vmid: tpl },
            params: { newid: vmid, hostname, description, pool: px.pool, full: 0 },
          },
          signal,
        ),
      );
      const cfg = await ctx.client.get<Record<string, string>>(`${ctPath(node, vmid)}/config`, undefined, { signal });
      const hwaddr = /hwaddr=([^,]+)/.exec(cfg.net0 ?? '')?.[1];
      await ctx.client.put(
        `${ctPath(node, vmid)}/config`,
        {
          tags: sessionTags(spec.sessionId),
          memory: spec.memoryMb,
          cores: spec.cores,
          net0: `name=eth0,bridge=${px.bridge}${hwaddr ? `,hwaddr=${hwaddr}` : ''},${ipParams},firewall=1,type=veth`,
        },
        { signal },
      );
      // A linked clone keeps the template's disk size: grow it to the configured size (PVE cannot shrink).
      const templateGb = Number(/size=(\d+)G/.exec(cfg.rootfs ?? '')?.[1] ?? 0);
      if (spec.diskGb > templateGb) await resizeRootfs(ctx, node, vmid, spec.diskGb, signal);
      await protectCt(ctx, node, vmid, !staticIp, signal);
      cctx.progress('starting');
      await startCt(ctx, node, vmid, signal);
    } else {
      log.info({ node, ostemplate: px.ostemplate }, 'creating from the Winux archive');
      await createFromArchive(
        ctx,
        node,
        {
          vmid,
          ostemplate: px.ostemplate!, // set: mode 'create' needs it
          hostname,
          description,
          pool: px.pool,
          tags: sessionTags(spec.sessionId),
          memoryMb: spec.memoryMb,
          cores: spec.cores,
          diskGb: spec.diskGb,
          ipParams,
        },
        signal,
      );
      await protectCt(ctx, node, vmid, !staticIp, signal);
      cctx.progress('starting');
      await startCt(ctx, node, vmid, signal);
    }
    const machine = await finish(ctx, node, spec, cctx, staticIp);
    created = true;
    return machine;
  } finally {
    release(created);
  }
}

async function finish(ctx: ProxmoxContext, node: string, spec: CreateSpec, cctx: CreateContext, staticIp?: string): Promise<CreatedMachine> {
  const { signal } = cctx;
  const vmid = spec.containerId;
  cctx.progress('network');
  const ip = staticIp ?? (await waitForAddress(ctx, node, vmid, signal));
  const target = await ctx.sshTarget(node, signal);
  if (!target) throw new ProviderError(noSshKeyMessage);
  await pollUntil(
    async () => {
      try {
        // Xvnc on the network only when a browser desktop is offered (its firewall door is open then).
        await setPasswordInCt(target, vmid, spec.username, spec.password, signal, {
          vncNetwork: ctx.config.proxmox.viewerSources.length > 0,
          info: sessionSetArgs({ language: spec.language ?? defaultLanguage, endsAt: spec.endsAt }),
        });
        return true;
      } catch (e) {
        // Right after start the container's init may not accept attach yet.
        if (e instanceof ProviderError && e.retryable) {
          ctx.logger.debug({ vmid, err: e.message }, 'pct exec not ready yet');
          return undefined;
        }
        throw e;
      }
    },
    { timeoutMs: 60_000, startMs: ctx.tuning.pollMs, maxMs: 3000, signal, what: `pct exec in CT ${vmid}` },
  );
  cctx.progress('desktop');
  await waitForPort(ip, ctx.tuning.rdpPort, { timeoutMs: ctx.tuning.readyTimeoutMs, pollMs: ctx.tuning.pollMs, signal });
  cctx.progress('ready');
  return {
    // The address goes into the ref too: openDesktop has only the ref to find the desktop by.
    ref: { containerId: vmid, node, vmid, hostname: hostnameFor(spec.hostname, vmid), ip },
    node,
    ip,
    endpoint: { host: ip, port: ctx.tuning.rdpPort },
  };
}

interface Iface {
  name: string;
  inet?: string;
  'ip-addresses'?: Array<{ 'ip-address': string; 'ip-address-type': string }>;
}

/** First IPv4 on a non-loopback interface that is not link-local; `/interfaces` is null while stopped. */
export function pickAddress(ifaces: Iface[] | null): string | undefined {
  for (const i of ifaces ?? []) {
    if (i.name === 'lo') continue;
    const candidates = [i.inet?.split('/')[0], ...(i['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'inet').map((a) => a['ip-address'])];
    const ip = candidates.find((a) => a && /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith('169.254.'));
    if (ip) return ip;
  }
  return undefined;
}

async function waitForAddress(ctx: ProxmoxContext, node: string, vmid: number, signal: AbortSignal): Promise<string> {
  return pollUntil(async () => pickAddress(await ctx.client.get<Iface[] | null>(`${ctPath(node, vmid)}/interfaces`, undefined, { signal })), {
    timeoutMs: ctx.tuning.ipTimeoutMs,
    startMs: ctx.tuning.pollMs,
    maxMs: 1000,
    signal,
    what: `an IPv4 address on CT ${vmid}`,
  });
}

/** PUT …/resize is asynchronous (a `resize` task); safe to repeat, since the size is absolute. */
async function resizeRootfs(ctx: ProxmoxContext, node: string, vmid: number, sizeGb: number, signal?: AbortSignal): Promise<void> {
  const upid = await ctx.client.put<string>(`${ctPath(node, vmid)}/resize`, { disk: 'rootfs', size: `${sizeGb}G` }, { signal });
  await waitForTask(ctx.client, upid, { signal, pollMs: ctx.tuning.pollMs, timeoutMs: ctx.tuning.taskTimeoutMs });
}
