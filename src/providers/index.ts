// One factory picks a provider by its short name and lists the valid names in its
// error. Each provider module is loaded only when chosen.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Provider } from '../core/provider-port.ts';

export const providerNames = ['lxc', 'proxmox', 'ansible'] as const;

export async function createProvider(config: Config, logger: Logger): Promise<Provider> {
  switch (config.provider) {
    case 'lxc': {
      const { createLxcProvider } = await import('./lxc/index.ts');
      return createLxcProvider(config, logger);
    }
    case 'proxmox': {
      const { createProxmoxProvider } = await import('./proxmox/index.ts');
      return createProxmoxProvider(config, logger);
    }
    case 'ansible': {
      const { createAnsibleProvider } = await import('./ansible/index.ts');
      return createAnsibleProvider(config, logger);
    }
    default:
      throw new Error(`Unknown provider "${String(config.provider)}": expected one of ${providerNames.join(', ')}`);
  }
}
