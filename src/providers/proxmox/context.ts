// What every Proxmox operation shares: the API client, the configuration, the
// per-template clone queues, in-flight memory reservations, and how to reach a
// node over SSH.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { PveClient } from './api.ts';
import { Reservations } from './placement.ts';
import type { SshTarget } from './ssh-pct.ts';
import { parseIpPool, type IpPool } from './ip-pool.ts';

export interface ProxmoxTuning {
  /** Port xrdp listens on inside each CT. */
  rdpPort: number;
  /** Port Xvnc listens on inside each CT (with winux-session-init --vnc-network). */
  vncPort: number;
  /** First poll interval for tasks, interfaces and readiness. */
  pollMs: number;
  /** Longest wait for a task. */
  taskTimeoutMs: number;
  /** Longest wait for a DHCP address. */
  ipTimeoutMs: number;
  /** Longest wait for RDP once the CT has an address. */
  readyTimeoutMs: number;
  /** A lock seen this long with no task behind it is stale. */
  staleLockMs: number;
  /** Longest wait for a template's clone lock held by someone else. */
  cloneLockWaitMs: number;
  /** Where SSH host keys are pinned. */
  knownHostsFile: string;
}

export interface ProxmoxContext {
  client: PveClient;
  config: Config;
  logger: Logger;
  tuning: ProxmoxTuning;
  reservations: Reservations;
  queues: KeyedQueue;
  ipPool?: IpPool;
  sshKey?: string;
  sshTarget(node: string, signal?: AbortSignal): Promise<SshTarget | null>;
}

/** Runs tasks one at a time per key (one clone at a time per template: PVE locks the source for the whole copy). */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

export function createContext(config: Config, logger: Logger, tuning: Partial<ProxmoxTuning> = {}): ProxmoxContext {
  const px = config.proxmox;
  if (!px.host || !px.tokenId || !px.tokenSecret) {
    throw new Error('The proxmox provider needs proxmox_api_host, proxmox_api_user (user@realm!token) and proxmox_api_token_secret');
  }
  const client = new PveClient({
    host: px.host,
    port: px.port,
    tokenId: px.tokenId,
    tokenSecret: px.tokenSecret,
    caFile: px.caFile,
    insecure: px.insecure,
    logger,
  });
  const sshKey = px.sshPrivateKey ?? (px.sshKeyPath ? readFileSync(px.sshKeyPath, 'utf8') : undefined);
  const full: ProxmoxTuning = {
    rdpPort: 3389,
    vncPort: 5900,
    pollMs: 250,
    taskTimeoutMs: 600_000,
    ipTimeoutMs: 120_000,
    readyTimeoutMs: 180_000,
    staleLockMs: 120_000,
    cloneLockWaitMs: 600_000,
    knownHostsFile: path.join(config.dataDir, 'proxmox_known_hosts'),
    ...tuning,
  };
  let nodeIps: Promise<Map<string, string>> | null = null;
  const ctx: ProxmoxContext = {
    client,
    config,
    logger,
    tuning: full,
    reservations: new Reservations(),
    queues: new KeyedQueue(),
    ipPool: px.ipPool ? parseIpPool(px.ipPool) : undefined,
    sshKey,
    async sshTarget(node, signal) {
      if (!sshKey) return null;
      let host = px.sshHost;
      if (!host) {
        // The node's own address from /cluster/status (pct only sees the CTs of the node it runs on).
        nodeIps ??= client
          .get<Array<{ type: string; name: string; ip?: string }>>('/cluster/status', undefined, { signal })
          .then((list) => new Map(list.filter((e) => e.type === 'node' && e.ip).map((e) => [e.name, e.ip!])))
          .catch((err) => {
            nodeIps = null;
            throw err;
          });
        host = (await nodeIps).get(node) ?? px.host!;
      }
      return { host, port: px.sshPort, user: px.sshUser, privateKey: sshKey, knownHostsFile: full.knownHostsFile };
    },
  };
  return ctx;
}
