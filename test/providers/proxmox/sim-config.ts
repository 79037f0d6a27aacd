// Builds a Winux Config pointing at a running simulator, with timings short
// enough for tests (the provider's behaviour is the same, only the waits shrink).
import { loadConfig, type Config } from '../../../src/config.ts';
import type { CreateContext, CreateSpec } from '../../../src/core/provider-port.ts';
import type { ProxmoxTuning } from '../../../src/providers/proxmox/index.ts';
import type { ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { tempDir } from '../../support/server.ts';

export function simConfig(sim: ProxmoxSim, env: Record<string, string> = {}, overrides: Partial<Config> = {}): Config {
  const dataDir = tempDir('winux-px-data-');
  const e = sim.env({ WINUX_PROVIDER: 'proxmox', WINUX_DATA_DIR: dataDir, WINUX_DESTROY_TIMEOUT_SECONDS: '30', ...env });
  // The provider reads the key from proxmox_ssh_key_path; known hosts are passed as tuning.
  delete e.proxmox_ssh_known_hosts;
  for (const k of Object.keys(e)) if (e[k] === '') delete e[k];
  return loadConfig(e, overrides);
}

export function fastTuning(sim: ProxmoxSim, extra: Partial<ProxmoxTuning> = {}): Partial<ProxmoxTuning> {
  return {
    pollMs: 25,
    taskTimeoutMs: 20_000,
    ipTimeoutMs: 10_000,
    readyTimeoutMs: 10_000,
    staleLockMs: 400,
    cloneLockWaitMs: 20_000,
    rdpPort: sim.cluster.rdpPort,
    ...(sim.knownHostsFile ? { knownHostsFile: sim.knownHostsFile } : {}),
    ...extra,
  };
}

export function spec(containerId: number, sessionId = `s-${containerId}`, extra: Partial<CreateSpec> = {}): CreateSpec {
  return {
    sessionId,
    containerId,
    hostname: `winux-${containerId}`,
    username: 'winux',
    password: `pw-${containerId}-Secret!`,
    memoryMb: 1024,
    cores: 2,
    diskGb: 10,
    pidsMax: 2048,
    ...extra,
  };
}

export function ctxFor(steps: string[] = [], signal = new AbortController().signal): CreateContext {
  return {
    signal,
    progress: (s) => {
      steps.push(s);
    },
  };
}
