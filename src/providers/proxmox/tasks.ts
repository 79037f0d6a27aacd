// Waiting for PVE tasks. A task must be polled on the node named in its UPID
// (field 1), not the node the request went to. `OK` and `WARNINGS: n` both mean
// success (PVE's `status_is_error`); anything else is the error text.
import type { PveClient } from './api.ts';
import { backoff, TimeoutError } from './backoff.ts';
import { PveTaskError } from './errors.ts';

export interface TaskStatus {
  upid: string;
  node: string;
  type: string;
  id: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
}

export function upidNode(upid: string): string {
  const parts = upid.split(':');
  if (parts[0] !== 'UPID' || parts.length < 9 || !parts[1]) throw new Error(`Not a Proxmox task id: ${upid.slice(0, 80)}`);
  return parts[1];
}

export const taskSucceeded = (exitstatus: string | undefined) => exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus ?? '');

export async function waitForTask(
  client: PveClient,
  upid: string,
  opts: { signal?: AbortSignal; timeoutMs?: number; pollMs?: number } = {},
): Promise<TaskStatus> {
  const node = upidNode(upid);
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
  const b = backoff(opts.pollMs ?? 250, Math.max(opts.pollMs ?? 250, 1000));
  for (;;) {
    const st = await client.get<TaskStatus>(`/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/status`, undefined, { signal: opts.signal });
    if (st.status === 'stopped') {
      if (!taskSucceeded(st.exitstatus)) throw new PveTaskError(upid, st.exitstatus ?? 'unknown error');
      return st;
    }
    if (Date.now() > deadline)
      throw new TimeoutError(`Proxmox task ${st.type} ${st.id} on ${node} still running after ${Math.round((opts.timeoutMs ?? 600_000) / 1000)} s`);
    await b.wait(opts.signal);
  }
}

/** Tasks still running on `node` for guest `vmid` (a lock with none is stale). */
export async function activeTasks(client: PveClient, node: string, vmid: number, signal?: AbortSignal): Promise<TaskStatus[]> {
  const list = await client.get<Array<TaskStatus & { status?: string }>>(`/nodes/${encodeURIComponent(node)}/tasks`, { vmid, source: 'active' }, { signal });
  return list.filter((t) => t.id === String(vmid) && (!t.status || t.status === 'running'));
}
