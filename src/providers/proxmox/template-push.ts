// `winux template push`: upload the Winux vztmpl archive to a node's storage,
// create a CT from it, and convert that CT into the template sessions are
// cloned from (tag `winux-template`, or `winux-template-<desktop>` with --desktop). With local storage a linked clone must
// stay on its template's node, so this runs once per node when asked. An older
// Winux template on the node is re-tagged `winux-template-old` (it cannot be
// deleted while linked clones of it exist).
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { FormData } from 'undici';
import type { Config } from '../../config.ts';
import { ProviderError } from '../../core/errors.ts';
import type { Logger } from '../../logger.ts';
import { pollUntil } from './backoff.ts';
import { readCluster, tagsOf } from './cluster-view.ts';
import { createContext } from './context.ts';
import { createFromArchive, ctPath } from './guest-ops.ts';
import { templateTagFor } from './naming.ts';
import { defaultDesktop, type DesktopName } from '../../core/desktops.ts';
import { waitForTask } from './tasks.ts';

export interface PushOptions {
  /** Node names, or ['all'] / ['auto'] for every online node; default: the configured nodes. */
  nodes?: string[];
  /** Storage that holds vztmpl archives (default `local`). */
  storage?: string;
  /** Disk size of the template's root filesystem, GiB (default: the session disk size). */
  diskGb?: number;
  /** Test hook: shorter polling. */
  pollMs?: number;
  /** Which desktop the archive is (its tag: `winux-template` for XFCE, `winux-template-<desktop>` otherwise). */
  desktop?: DesktopName;
}

export interface PushedTemplate {
  node: string;
  vmid: number;
  volid: string;
  replaced: number[];
}

export async function pushTemplate(config: Config, logger: Logger, archivePath: string, opts: PushOptions = {}): Promise<PushedTemplate[]> {
  const filename = path.basename(archivePath);
  if (!/^[A-Za-z0-9_.+-]+\.tar\.(gz|xz|zst)$/.test(filename)) {
    throw new ProviderError(`${filename}: a vztmpl archive name must be letters, digits, _.+- and end in .tar.gz, .tar.xz or .tar.zst`);
  }
  const ctx = createContext(config, logger.child({ op: 'template-push' }), opts.pollMs ? { pollMs: opts.pollMs } : {});
  const { client } = ctx;
  const px = config.proxmox;
  const archiveStorage = opts.storage ?? 'local';
  const desktop = opts.desktop ?? defaultDesktop;
  const tag = templateTagFor(desktop);
  try {
    const view = await readCluster(client);
    const wanted = opts.nodes ?? px.nodes;
    const every = wanted.includes('all') || wanted.includes('auto');
    const nodes = every ? view.nodes.filter((n) => n.status === 'online').map((n) => n.node) : wanted;
    if (!nodes.length) throw new ProviderError('No online Proxmox node to push the template to');
    const out: PushedTemplate[] = [];
    for (const node of nodes) {
      const log = logger.child({ node });
      const volid = `${archiveStorage}:vztmpl/${filename}`;
      log.info({ volid }, 'uploading the Winux archive');
      const form = new FormData();
      form.set('content', 'vztmpl');
      form.set('filename', await openAsBlob(archivePath), filename);
      const upid = await client.upload<string>(`/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(archiveStorage)}/upload`, form);
      await waitForTask(client, upid, { pollMs: ctx.tuning.pollMs });

      const vmid = Number(await client.get<string>('/cluster/nextid'));
      log.info({ vmid }, 'creating the template CT');
      await createFromArchive(ctx, node, {
        vmid,
        ostemplate: volid,
        hostname: tag,
        description: `Winux ${desktop} desktop template from ${filename}, pushed ${new Date().toISOString()}`,
        tags: tag,
        memoryMb: config.resources.memoryMb,
        cores: config.resources.cores,
        diskGb: opts.diskGb ?? config.resources.diskGb,
        ipParams: 'ip=dhcp',
      });
      // POST …/template forks a worker but discards its UPID: poll the config instead.
      await client.post(`${ctPath(node, vmid)}/template`);
      await pollUntil(async () => (Number((await client.get<{ template?: number }>(`${ctPath(node, vmid)}/config`)).template) === 1 ? true : undefined), {
        timeoutMs: 300_000,
        startMs: ctx.tuning.pollMs,
        maxMs: 2000,
        what: `CT ${vmid} to become a template`,
      });

      const replaced: number[] = [];
      for (const old of view.vms) {
        if (old.node !== node || old.vmid === vmid || Number(old.template) !== 1 || !tagsOf(old).includes(tag)) continue;
        await client.put(`${ctPath(node, old.vmid)}/config`, { tags: `${tag}-old` });
        replaced.push(old.vmid);
      }
      log.info({ vmid, replaced, desktop }, 'Winux template ready');
      out.push({ node, vmid, volid, replaced });
    }
    return out;
  } finally {
    await client.close();
  }
}
