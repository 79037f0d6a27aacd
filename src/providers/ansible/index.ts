// WINUX_PROVIDER=ansible: the seed's path. Sessions are created and destroyed by
// running ansible/create-winux-session.yml and destroy-winux-session.yml (the
// Proxmox Ansible module), with the same environment variables; reads (status,
// list, health) go straight to the Proxmox API, which is cheaper than a play.
import path from 'node:path';
import type { Config } from '../../config.ts';
import { ProviderError } from '../../core/errors.ts';
import type { Logger } from '../../logger.ts';
import type { CreationStep } from '../../core/session.ts';
import type { Provider } from '../../core/provider-port.ts';
import { createProxmoxProvider, type ProxmoxTuning } from '../proxmox/index.ts';
import { runPlaybook } from './run-playbook.ts';

interface CreateResult {
  container_id: number;
  node: string;
  ip: string;
  port: number;
  username: string;
}

/** Which creation step a playbook task belongs to (task names in create-winux-session.yml). */
const stepOfTask: Array<[RegExp, CreationStep]> = [
  [/^Clone|^Create from/, 'cloning'],
  [/^Start/, 'starting'],
  [/^Wait for an IPv4/, 'network'],
  [/^Wait for RDP/, 'desktop'],
];

export function createAnsibleProvider(config: Config, logger: Logger, tuning: Partial<ProxmoxTuning> = {}): Provider {
  const log = logger.child({ provider: 'ansible' });
  const api = createProxmoxProvider(config, logger, tuning);
  const dir = config.ansibleDir;
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    // The playbooks read the seed's names; make sure values given through a config file reach them too.
    proxmox_api_host: config.proxmox.host,
    proxmox_api_port: String(config.proxmox.port),
    proxmox_api_user: config.proxmox.tokenId,
    proxmox_api_token_secret: config.proxmox.tokenSecret,
    proxmox_api_insecure: config.proxmox.insecure ? '1' : '0',
    proxmox_node: config.proxmox.nodes.join(','),
    proxmox_ssh_port: String(config.proxmox.sshPort),
    proxmox_ssh_user: config.proxmox.sshUser,
    WINUX_PROXMOX_STORAGE: config.proxmox.storage,
    WINUX_PROXMOX_BRIDGE: config.proxmox.bridge,
    WINUX_PROXMOX_POOL: config.proxmox.pool,
    WINUX_DESKTOP_USER: config.desktopUser,
    // The session firewall the playbook sets, as the Proxmox provider's.
    WINUX_ALLOWED_NETWORKS: config.allowedNetworks.join(','),
    ...(config.proxmox.caFile ? { proxmox_api_ca_file: config.proxmox.caFile } : {}),
    ...(config.proxmox.template ? { WINUX_PROXMOX_TEMPLATE: config.proxmox.template } : {}),
    ...(config.proxmox.ostemplate ? { WINUX_PROXMOX_OSTEMPLATE: config.proxmox.ostemplate } : {}),
    ...(config.proxmox.sshKeyPath ? { proxmox_ssh_key_path: config.proxmox.sshKeyPath } : {}),
    ...(config.proxmox.sshPrivateKey ? { proxmox_ssh_private_key: config.proxmox.sshPrivateKey } : {}),
    ...(config.proxmox.sshHost ? { proxmox_ssh_host: config.proxmox.sshHost } : {}),
    ...extra,
  });

  return {
    name: 'ansible',
    async create(spec, cctx) {
      cctx.progress('allocating');
      let last: CreationStep = 'allocating';
      const result = await runPlaybook<CreateResult>({
        playbook: path.join(dir, 'create-winux-session.yml'),
        extraVars: { session_id: spec.sessionId, container_id: spec.containerId, session_duration: config.sessionMinutes },
        env: env({
          WINUX_SESSION_PASSWORD: spec.password,
          WINUX_DESKTOP_USER: spec.username,
          WINUX_MEMORY_MB: String(spec.memoryMb),
          WINUX_CORES: String(spec.cores),
          WINUX_DISK_GB: String(spec.diskGb),
        }),
        signal: cctx.signal,
        timeoutMs: config.createTimeoutMs,
        onTask: (name) => {
          const step = stepOfTask.find(([re]) => re.test(name))?.[1];
          // Skipped tasks print their header too: report each step once.
          if (step && step !== last) {
            last = step;
            cctx.progress(step);
          }
        },
      });
      if (result.container_id !== spec.containerId) throw new ProviderError(`The playbook created container ${result.container_id}, not ${spec.containerId}`);
      // The account the playbook gave the session's password to: the one to log in as.
      if (typeof result.username !== 'string' || !/^[a-z_][a-z0-9_-]{0,31}$/.test(result.username) || result.username === 'root') {
        throw new ProviderError(`The playbook answered an unusable user name for the session (${JSON.stringify(result.username)?.slice(0, 40)})`);
      }
      log.info({ vmid: result.container_id, node: result.node }, 'session created by ansible');
      cctx.progress('ready');
      return {
        ref: { containerId: spec.containerId, node: result.node, vmid: spec.containerId },
        node: result.node,
        ip: result.ip,
        endpoint: { host: result.ip, port: result.port },
        username: result.username,
      };
    },
    async destroy(ref) {
      await runPlaybook({
        playbook: path.join(dir, 'destroy-winux-session.yml'),
        extraVars: { container_id: ref.containerId },
        env: env(),
        timeoutMs: config.destroyTimeoutMs,
      });
    },
    status: (ref) => api.status(ref),
    list: () => api.list(),
    async check() {
      const checks = await api.check();
      const { execFile } = await import('node:child_process');
      const version = await new Promise<string | null>((resolve) =>
        execFile('ansible-playbook', ['--version'], (err, out) => resolve(err ? null : out.split('\n')[0]!)),
      );
      checks.unshift(
        version
          ? { name: 'ansible', ok: true, detail: `${version}; playbooks in ${dir}` }
          : { name: 'ansible', ok: false, detail: 'ansible-playbook not found: run ansible/install-deps.sh (Debian ansible + python3-proxmoxer)' },
      );
      return checks;
    },
    close: () => api.close?.() ?? Promise.resolve(),
  };
}
