// A Proxmox VE simulator for tests: HTTPS API on 127.0.0.1 (port 0, cert made
// at start), one SSH endpoint per node, a loopback "RDP" listener per running
// container. `startProxmoxSim()` gives back everything a client needs to reach
// it, including the seed's environment variables for Ansible and proxmoxer.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AclEntry } from './acl.ts';
import { makeSelfSignedCert } from '../self-signed-cert.ts';
import { SimCluster, type ClusterOptions } from './cluster.ts';
import { createHttpApi, type SimToken } from './http-api.ts';
import { startSshEndpoints, type SshEndpoint } from './ssh-server.ts';

export { SimCluster } from './cluster.ts';
export type { SimToken } from './http-api.ts';

export interface SimOptions extends ClusterOptions {
  /** Extra tokens besides the default full-privilege `root@pam!winux`. */
  tokens?: Array<{ id: string; privsep?: boolean; acl?: AclEntry[]; secret?: string }>;
  users?: Record<string, string>;
  /** Templates to create up front: one per node by default (vmid 9000 + index). */
  templates?: Array<{ node: string; vmid: number; hostname?: string; tags?: string }> | false;
  /** Add the vztmpl archive `local:vztmpl/winux-desktop.tar.zst` on every node. */
  ostemplate?: boolean;
  messageInBody?: boolean;
  ssh?: boolean;
}

export interface ProxmoxSim {
  cluster: SimCluster;
  host: string;
  port: number;
  url: string;
  caFile: string;
  caPem: string;
  tokenId: string;
  tokenSecret: string;
  tokens: SimToken[];
  users: Record<string, string>;
  ssh?: SshEndpoint;
  /** A file with the SSH client key (mode 0600), for OpenSSH-based clients. */
  sshKeyFile?: string;
  /** A known_hosts file pinning every node's host key. */
  knownHostsFile?: string;
  dir: string;
  /** The seed's variables (plus Winux's) pointing at this simulator. */
  env(extra?: Record<string, string>): Record<string, string>;
  addToken(id: string, acl: AclEntry[], privsep?: boolean): SimToken;
  close(): Promise<void>;
}

export async function startProxmoxSim(opts: SimOptions = {}): Promise<ProxmoxSim> {
  const cluster = new SimCluster(opts);
  const cert = makeSelfSignedCert();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-pve-sim-files-'));
  const tokens: SimToken[] = [{ id: 'root@pam!winux', secret: randomUUID(), privsep: false, acl: [] }];
  for (const t of opts.tokens ?? []) tokens.push({ id: t.id, secret: t.secret ?? randomUUID(), privsep: t.privsep ?? true, acl: t.acl ?? [] });
  const users = opts.users ?? { 'root@pam': 'sim-root-password' };

  const nodeNames = [...cluster.nodes.keys()];
  const templates: Array<{ node: string; vmid: number; hostname?: string; tags?: string }> =
    opts.templates === false ? [] : (opts.templates ?? nodeNames.map((node, i) => ({ node, vmid: 9000 + i })));
  for (const t of templates) cluster.addTemplate(t.node, t.vmid, t.hostname, t.tags);
  if (opts.ostemplate) {
    for (const n of cluster.nodes.values()) {
      const volid = 'local:vztmpl/winux-desktop.tar.zst';
      n.volumes.set(volid, { volid, content: 'vztmpl', size: 300 * 1024 ** 2, format: 'tar.zst' });
    }
  }

  const api = createHttpApi({ cluster, tokens, users, key: cert.key, cert: cert.cert, messageInBody: opts.messageInBody });
  const port = await api.listen('127.0.0.1', 0);
  let ssh: SshEndpoint | undefined;
  let sshKeyFile: string | undefined;
  let knownHostsFile: string | undefined;
  try {
    if (opts.ssh !== false) {
      ssh = await startSshEndpoints(cluster);
      sshKeyFile = path.join(dir, 'id_ed25519');
      writeFileSync(sshKeyFile, ssh.clientPrivateKey, { mode: 0o600 });
      knownHostsFile = path.join(dir, 'known_hosts');
      const hostKey = ssh.hostPublicKey.trim().split(/\s+/).slice(0, 2).join(' ');
      writeFileSync(knownHostsFile, [...cluster.nodes.values()].map((n) => `[${n.ip}]:${ssh!.port} ${hostKey}\n`).join(''));
    }
  } catch (err) {
    // The caller never gets a handle to close: a listening API left open here
    // would keep the test file's process alive after its tests ended.
    await api.close();
    await ssh?.close();
    await cluster.close();
    cert.cleanup();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const main = tokens[0]!;

  return {
    cluster,
    host: '127.0.0.1',
    port,
    url: `https://127.0.0.1:${port}/api2/json`,
    caFile: cert.certFile,
    caPem: cert.cert,
    tokenId: main.id,
    tokenSecret: main.secret,
    tokens,
    users,
    ssh,
    sshKeyFile,
    knownHostsFile,
    dir,
    env(extra = {}) {
      const e: Record<string, string> = {
        proxmox_api_host: '127.0.0.1',
        proxmox_api_port: String(port),
        proxmox_api_user: main.id.split('!')[0]!,
        proxmox_api_token_id: main.id.split('!')[1]!,
        proxmox_api_token_secret: main.secret,
        proxmox_api_ca_file: cert.certFile,
        proxmox_node: nodeNames.join(','),
      };
      if (sshKeyFile) {
        e.proxmox_ssh_key_path = sshKeyFile;
        e.proxmox_ssh_port = String(ssh!.port);
        e.proxmox_ssh_known_hosts = knownHostsFile!;
      }
      return { ...e, ...extra };
    },
    addToken(id, acl, privsep = true) {
      const t: SimToken = { id, secret: randomUUID(), privsep, acl };
      tokens.push(t);
      return t;
    },
    async close() {
      await api.close();
      await ssh?.close();
      await cluster.close();
      cert.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
