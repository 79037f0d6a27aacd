// The first-desktop check: before `winux serve` says it is serving, it starts
// one throwaway session machine, waits until its RDP endpoint answers a real
// TLS handshake (what `provider.create` resolves on), and removes it. A host
// whose every click would fail (a missing package, a broken template) is caught
// here, with what failed and what to do, instead of on a visitor's first click.
//
// It runs once per template recipe: the result is kept in the data dir, so later
// starts cost nothing until the template changes. A crash half-way leaves a
// `winux-<id>` machine in the id range that no session holds, which the
// reconciler removes as an orphan on the next start.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { newPassword } from '../core/credentials.ts';
import type { CreateSpec, Provider } from '../core/provider-port.ts';

export interface FirstDesktopProof {
  /** What was proven: the provider and its template recipe. */
  provider: string;
  recipe: string;
  provedAt: string;
  seconds: number;
  containerId: number;
}

export class FirstDesktopError extends Error {
  name = 'FirstDesktopError';
}

const stampName = 'first-desktop.json';

/** The last successful check, if it was for this provider and recipe. */
export function provenFor(config: Config, provider: string, recipe: string): FirstDesktopProof | null {
  try {
    const proof = JSON.parse(readFileSync(path.join(config.dataDir, stampName), 'utf8')) as FirstDesktopProof;
    return proof.provider === provider && proof.recipe === recipe ? proof : null;
  } catch {
    return null;
  }
}

/**
 * The highest id of the range that no machine uses. The server is not running
 * while this runs (serve checks before listening; doctor only when no server
 * answers), so no session can take the same id meanwhile.
 */
async function freeContainerId(config: Config, provider: Provider): Promise<number> {
  const used = new Set((await provider.list()).map((m) => m.containerId));
  for (let id = config.containerIdMax; id >= config.containerIdMin; id--) if (!used.has(id)) return id;
  throw new FirstDesktopError(`every container id from ${config.containerIdMin} to ${config.containerIdMax} is in use: widen WINUX_CONTAINER_ID_MIN..MAX`);
}

/** Starts a throwaway desktop, waits for its RDP endpoint, removes it. Throws FirstDesktopError saying what to do. */
export async function proveFirstDesktop(
  config: Config,
  provider: Provider,
  recipe: string,
  report: (line: string) => void = () => {},
): Promise<FirstDesktopProof> {
  const started = Date.now();
  const containerId = await freeContainerId(config, provider);
  const spec: CreateSpec = {
    sessionId: `winux-check${randomBytes(4).toString('hex')}`,
    containerId,
    hostname: `winux-${containerId}`,
    username: config.desktopUser,
    password: newPassword(),
    ...config.resources,
    // The desktop a click gets when it names none (the others are proven by their screenshot session).
    desktop: config.defaultDesktop,
  };
  const signal = AbortSignal.timeout(config.createTimeoutMs);
  let failure: Error | undefined;
  let ref = { containerId } as Parameters<Provider['destroy']>[0];
  try {
    report(`first desktop: starting a test desktop (container ${containerId})`);
    const machine = await provider.create(spec, { signal, progress: (step) => report(`first desktop: ${step}`) });
    ref = machine.ref;
    report(`first desktop: RDP answers on port ${machine.endpoint.port} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    failure = error as Error;
  }
  try {
    await withTimeout(provider.destroy(ref), config.destroyTimeoutMs, 'removing the test desktop');
  } catch (error) {
    failure ??= error as Error;
  }
  if (failure) {
    throw new FirstDesktopError(
      [
        `The first desktop did not start on this host: ${failure.message}`,
        'Every visitor click would fail the same way, so Winux is not serving. What to do:',
        '  - run "winux doctor" to see which part is missing;',
        '  - rebuild the desktop template with "winux template build --force" if the recipe or the host changed;',
        `  - look at the container's own log: lxc-start -n winux-${containerId} -F -l DEBUG (as root).`,
      ].join('\n'),
      { cause: failure },
    );
  }
  const proof: FirstDesktopProof = { provider: provider.name, recipe, provedAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000, containerId };
  writeFileSync(path.join(config.dataDir, stampName), `${JSON.stringify(proof, null, 2)}\n`, { mode: 0o600 });
  return proof;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
