// Errors the Proxmox provider raises. All are ProviderErrors (what the core
// understands); the subclasses let callers tell a few cases apart.
import { ProviderError } from '../../core/errors.ts';

/** A PVE API call failed: `status` and `reason` are what PVE answered (the reason phrase carries its message). */
export class PveApiError extends ProviderError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    readonly errors?: Record<string, string>,
    options?: { cause?: unknown },
  ) {
    const detail = errors
      ? ` (${Object.entries(errors)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; ')})`
      : '';
    super(`Proxmox ${method} ${path} failed: ${status} ${reason}${detail}`, status >= 500 || status === 0, options);
    this.name = 'PveApiError';
  }
}

/** A task ran and ended in error: the exitstatus is PVE's message. */
export class PveTaskError extends ProviderError {
  constructor(
    readonly upid: string,
    readonly exitstatus: string,
  ) {
    super(`Proxmox task ${taskLabel(upid)} failed: ${exitstatus}`, false);
    this.name = 'PveTaskError';
  }
}

/**
 * The container id is held by a machine Winux does not manage. The core should
 * take the next free id (this one is not ours to destroy).
 */
// Lives in the core, which reacts to it by choosing another id.
export { ContainerIdTakenError } from '../../core/errors.ts';

function taskLabel(upid: string): string {
  const f = upid.split(':');
  return f.length >= 8 ? `${f[5]} ${f[6]} on ${f[1]}` : upid;
}

const notFoundRe = /does not exist|no such (vm|ct|container)|not found/i;
export const isNotFound = (e: unknown) =>
  (e instanceof PveApiError && (e.status === 404 || (e.status === 500 && notFoundRe.test(e.reason)))) ||
  (e instanceof PveTaskError && /Configuration file .* does not exist/.test(e.exitstatus));

export const lockOf = (e: unknown): string | null => {
  const text = e instanceof PveApiError ? e.reason : e instanceof PveTaskError ? e.exitstatus : '';
  return /CT is locked \(([a-z-]+)\)/.exec(text)?.[1] ?? null;
};

export const isAlreadyExists = (e: unknown) => e instanceof PveApiError && /already exists/.test(e.reason);

/** A 5xx or transport failure where we cannot know whether PVE acted on the request. */
export const isAmbiguous = (e: unknown) =>
  e instanceof PveApiError && (e.status === 0 || e.status >= 502 || (e.status === 500 && /timeout|timed out/i.test(e.reason) && !lockOf(e)));

/**
 * Refused without an SSH key. The Proxmox API has no call that runs a command
 * inside a container (PROXMOX.md lists none), and the Winux template keeps xrdp
 * off until winux-session-init, run with `pct exec`, has set the session's
 * password; the only secret the API can set, `password` at creation, is root's,
 * which xrdp refuses. Without SSH a session would never get a working desktop.
 */
export const noSshKeyMessage =
  "Proxmox sessions need SSH to the nodes: set proxmox_ssh_key_path (or proxmox_ssh_private_key) to a private key whose public half is in root's authorized_keys on each node. " +
  'Winux runs `pct exec <ct> -- winux-session-init` there to set the session password and start xrdp (the Proxmox API cannot run anything inside a container, and the template keeps xrdp off until then).';
