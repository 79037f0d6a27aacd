// The browser desktop of a Proxmox session. Winux runs on another machine than
// the CT, so the desktop's Xvnc listens on the CT's network too (winux-session-init
// --vnc-network, TCP 5900) and Winux connects to it over the cluster network.
// Two locks on that door: the CT firewall admits port 5900 only from Winux's
// own addresses (WINUX_PROXMOX_VIEWER_SOURCES, firewall.ts), and Xvnc asks for
// VNC authentication with the session password, which only Winux's bridge
// (src/desktop/) holds; no browser ever sees it.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ProviderError } from '../../core/errors.ts';
import type { ProviderRef } from '../../core/provider-port.ts';
import type { ProxmoxContext } from './context.ts';
import { pickAddress } from './create.ts';
import { ctPath, findVm } from './guest-ops.ts';

/** Without an abort signal, a CT that does not answer is given up after this long. */
const connectTimeoutMs = 10_000;

/** The CT's address: the one recorded at creation, else (refs from before it was recorded) its interfaces now. */
async function addressOf(ctx: ProxmoxContext, ref: ProviderRef, signal?: AbortSignal): Promise<string> {
  if (typeof ref.ip === 'string' && net.isIPv4(ref.ip)) return ref.ip;
  const vmid = ref.containerId;
  const node = typeof ref.node === 'string' ? ref.node : (await findVm(ctx, vmid, signal))?.node;
  if (!node) throw new ProviderError(`CT ${vmid} no longer exists`);
  const ip = pickAddress(await ctx.client.get(`${ctPath(node, vmid)}/interfaces`, undefined, { signal }));
  if (!ip) throw new ProviderError(`CT ${vmid} has no IPv4 address (is it running?)`, true);
  return ip;
}

/** A connected TCP stream to the CT's Xvnc; a refusal, a timeout or an abort is a retryable ProviderError. */
export async function openCtDesktop(ctx: ProxmoxContext, ref: ProviderRef, signal?: AbortSignal): Promise<Duplex> {
  const vmid = ref.containerId;
  let ip: string;
  try {
    ip = await addressOf(ctx, ref, signal);
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    throw new ProviderError(`The desktop of CT ${vmid} cannot be found: ${(err as Error).message}`, true, { cause: err });
  }
  const where = `${ip}:${ctx.tuning.vncPort}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: ip, port: ctx.tuning.vncPort });
    const timer = setTimeout(() => fail(new Error(`no answer within ${connectTimeoutMs / 1000} s`)), connectTimeoutMs);
    const onAbort = () => fail(new Error('timed out'));
    function fail(err: Error) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(new ProviderError(`The desktop of CT ${vmid} (${where}) did not answer: ${err.message}`, true, { cause: err }));
    }
    if (signal?.aborted) return fail(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      signal?.removeEventListener('abort', onAbort);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
