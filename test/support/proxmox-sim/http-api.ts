// The HTTPS face of the simulator: /api2/json routing, the `{"data": …}`
// envelope, errors in the reason phrase, token and ticket authentication (with
// CSRF on ticket writes, none for tokens), and injected faults.
import { addRule as addFirewallRule, listRules as listFirewallRules, setOptions as setFirewallOptions } from './firewall.ts';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { permissionsOf, type AclEntry, type Auth } from './acl.ts';
import type { SimCluster, SimTask } from './cluster.ts';
import { paramError, PveHttpError } from './errors.ts';
import { canSeeStorage, clusterResources, clusterStatus, nodeEntry } from './resources.ts';

export interface SimToken {
  /** Full id `user@realm!name`. */
  id: string;
  secret: string;
  privsep: boolean;
  acl: AclEntry[];
}

export interface HttpApiOptions {
  cluster: SimCluster;
  tokens: SimToken[];
  /** username → password, for /access/ticket (these users are full admins). */
  users: Record<string, string>;
  key: string;
  cert: string;
  /** Newer PVE (libpve-http-server-perl ≥ 5.2.0) also puts the message in the body. */
  messageInBody?: boolean;
  version?: string;
}

type Params = Record<string, string>;
type Handler = (auth: Auth, m: string[], p: Params, req: IncomingMessage) => unknown | Promise<unknown>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What GET /nodes/{node}/tasks and …/tasks/{upid}/status both say of a task (PVE's UPID parts and its upid). */
const taskFields = (t: SimTask) => ({ upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id });

export function createHttpApi(opts: HttpApiOptions) {
  const c = opts.cluster;
  const tickets = new Map<string, { user: string; csrf: string; expires: number }>();
  /** The CT of a /nodes/{node}/lxc/{vmid}/… route, once it is on that node and the caller holds `privilege` on it. */
  const ctAllowed = (a: Auth, m: string[], privilege: string) => {
    const ct = c.ctOn(m[1]!, Number(m[2]));
    c.requireVm(a, ct.vmid, privilege);
    return ct;
  };

  const routes: Array<[string, RegExp, Handler]> = [
    [
      'GET',
      /^\/version$/,
      () => ({ version: opts.version ?? '8.2.4', release: (opts.version ?? '8.2.4').split('.').slice(0, 2).join('.'), repoid: 'faa83925c9641325' }),
    ],
    ['GET', /^\/access\/permissions$/, (a) => permissionsOf(a)],
    ['GET', /^\/cluster\/resources$/, (a, _m, p) => clusterResources(c, a, p.type)],
    ['GET', /^\/cluster\/status$/, () => clusterStatus(c)],
    [
      'GET',
      /^\/cluster\/nextid$/,
      (_a, _m, p) => {
        if (p.vmid) {
          const vmid = Number(p.vmid);
          if (c.cts.has(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
          return String(vmid);
        }
        let id = 100;
        while (c.cts.has(id)) id++;
        return String(id);
      },
    ],
    ['GET', /^\/pools$/, () => [...c.pools].map((poolid) => ({ poolid }))],
    [
      'POST',
      /^\/pools$/,
      (a, _m, p) => {
        c.require(a, `/pool/${p.poolid}`, 'Pool.Allocate');
        if (c.pools.has(p.poolid!)) throw new PveHttpError(500, `create pool failed: pool '${p.poolid}' already exists`);
        c.pools.add(p.poolid!);
        return null;
      },
    ],
    ['GET', /^\/nodes$/, (a) => [...c.nodes.values()].map((n) => nodeEntry(c, n, a))],
    [
      'GET',
      /^\/nodes\/([^/]+)\/lxc$/,
      (a, m) => {
        c.node(m[1]!);
        return [...c.cts.values()]
          .filter((ct) => ct.node === m[1] && hasAudit(a, ct.vmid))
          .map((ct) => ({
            vmid: ct.vmid,
            status: ct.status,
            name: ct.config.hostname,
            type: 'lxc',
            tags: ct.config.tags,
            lock: ct.config.lock,
            template: ct.config.template,
            maxmem: Number(ct.config.memory) * 1024 ** 2,
            cpus: ct.config.cores,
          }));
      },
    ],
    ['POST', /^\/nodes\/([^/]+)\/lxc$/, (a, m, p) => c.create(a, m[1]!, p)],
    [
      'GET',
      /^\/nodes\/([^/]+)\/lxc\/(\d+)$/,
      (a, m) => {
        ctAllowed(a, m, 'VM.Audit');
        return ['config', 'status', 'interfaces', 'snapshot', 'firewall'].map((subdir) => ({ subdir }));
      },
    ],
    ['DELETE', /^\/nodes\/([^/]+)\/lxc\/(\d+)$/, (a, m, p) => c.destroyCt(a, m[1]!, Number(m[2]), p)],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/clone$/, (a, m, p) => c.clone(a, m[1]!, Number(m[2]), p)],
    ['GET', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/config$/, (a, m) => c.configOf(ctAllowed(a, m, 'VM.Audit'))],
    ['PUT', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/config$/, (a, m, p) => c.updateConfig(a, m[1]!, Number(m[2]), p)],
    ['PUT', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/resize$/, (a, m, p) => c.resize(a, m[1]!, Number(m[2]), p)],
    ['GET', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/status\/current$/, (a, m) => c.statusCurrent(m[1]!, ctAllowed(a, m, 'VM.Audit').vmid)],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/status\/start$/, (a, m) => c.startCt(a, m[1]!, Number(m[2]))],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/status\/stop$/, (a, m) => c.stopCt(a, m[1]!, Number(m[2]), 'vzstop')],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/status\/shutdown$/, (a, m) => c.stopCt(a, m[1]!, Number(m[2]), 'vzshutdown')],
    ['GET', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/interfaces$/, (a, m) => c.interfaces(m[1]!, ctAllowed(a, m, 'VM.Audit').vmid)],
    ['GET', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/firewall\/options$/, (a, m) => ({ ...ctAllowed(a, m, 'VM.Audit').firewall.options })],
    ['PUT', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/firewall\/options$/, (a, m, p) => setFirewallOptions(ctAllowed(a, m, 'VM.Config.Network').firewall, p)],
    ['GET', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/firewall\/rules$/, (a, m) => listFirewallRules(ctAllowed(a, m, 'VM.Audit').firewall)],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/firewall\/rules$/, (a, m, p) => addFirewallRule(ctAllowed(a, m, 'VM.Config.Network').firewall, p)],
    [
      'GET',
      /^\/cluster\/firewall\/options$/,
      (a) => {
        c.require(a, '/', 'Sys.Audit');
        return { ...c.clusterFirewall };
      },
    ],
    ['POST', /^\/nodes\/([^/]+)\/lxc\/(\d+)\/template$/, (a, m) => c.makeTemplate(a, m[1]!, Number(m[2]))],
    [
      'GET',
      /^\/nodes\/([^/]+)\/tasks$/,
      (a, m, p) => {
        c.node(m[1]!);
        const list = [...c.tasks.values()].filter(
          (t) =>
            t.node === m[1] &&
            (p.vmid === undefined || t.id === p.vmid) &&
            (p.source === 'active' ? t.status === 'running' : true) &&
            (t.user === (a.kind === 'user' ? a.user : a.tokenId) || hasSysAudit(a, m[1]!)),
        );
        return list.map((t) => ({
          ...taskFields(t),
          user: t.user,
          ...(t.status === 'stopped' ? { status: t.exitstatus, endtime: t.endtime } : {}),
        }));
      },
    ],
    [
      'GET',
      /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/status$/,
      (a, m) => {
        const t = c.task(m[1]!, decodeURIComponent(m[2]!));
        checkTaskAccess(a, t.user, m[1]!);
        const out: Record<string, unknown> = {
          ...taskFields(t),
          user: t.user.split('!')[0],
          status: t.status,
        };
        if (t.user.includes('!')) out.tokenid = t.user.split('!')[1];
        if (t.status === 'stopped') out.exitstatus = t.exitstatus;
        return out;
      },
    ],
    [
      'GET',
      /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/log$/,
      (a, m) => {
        const t = c.task(m[1]!, decodeURIComponent(m[2]!));
        checkTaskAccess(a, t.user, m[1]!);
        return t.log.map((line, i) => ({ n: i + 1, t: line }));
      },
    ],
    [
      'GET',
      /^\/nodes\/([^/]+)\/storage$/,
      (a, m, p) => {
        const n = c.node(m[1]!);
        return [...n.storages.values()]
          .filter((st) => canSeeStorage(a, st.storage) && (!p.content || st.content.includes(p.content)))
          .map((st) => ({
            storage: st.storage,
            type: st.type,
            content: st.content.join(','),
            active: 1,
            enabled: 1,
            shared: st.shared ? 1 : 0,
            total: st.total,
            used: st.used,
            avail: st.total - st.used,
            used_fraction: st.used / st.total,
          }));
      },
    ],
    [
      'GET',
      /^\/nodes\/([^/]+)\/storage\/([^/]+)\/content$/,
      (a, m, p) => {
        const n = c.node(m[1]!);
        if (!n.storages.has(m[2]!)) throw new PveHttpError(500, `storage '${m[2]}' does not exist`);
        c.require(a, `/storage/${m[2]}`, 'Datastore.Audit');
        return [...n.volumes.values()]
          .filter((v) => v.volid.startsWith(`${m[2]}:`) && (!p.content || v.content === p.content))
          .map((v) => ({ volid: v.volid, content: v.content, format: v.format, size: v.size, ctime: 0 }));
      },
    ],
    [
      'POST',
      /^\/nodes\/([^/]+)\/storage\/([^/]+)\/upload$/,
      async (a, m, _p, req) => {
        const form = await new Response(req as unknown as ReadableStream, { headers: { 'content-type': req.headers['content-type'] ?? '' } })
          .formData()
          .catch(() => {
            throw paramError({ filename: 'expected a multipart/form-data upload' });
          });
        const file = form.get('filename');
        if (!file || typeof file === 'string') throw paramError({ filename: 'property is missing and it is not optional' });
        const content = String(form.get('content') ?? '');
        return c.upload(a, m[1]!, m[2]!, content, file.name, file.size);
      },
    ],
  ];

  function hasAudit(a: Auth, vmid: number): boolean {
    try {
      c.requireVm(a, vmid, 'VM.Audit');
      return true;
    } catch {
      return false;
    }
  }
  function hasSysAudit(a: Auth, node: string): boolean {
    try {
      c.require(a, `/nodes/${node}`, 'Sys.Audit');
      return true;
    } catch {
      return false;
    }
  }
  function checkTaskAccess(a: Auth, owner: string, node: string): void {
    const me = a.kind === 'user' ? a.user : a.tokenId;
    if (owner !== me && !(a.kind === 'token' && owner === a.user)) c.require(a, `/nodes/${node}`, 'Sys.Audit');
  }

  function authenticate(req: IncomingMessage, method: string): Auth {
    const header = req.headers.authorization ?? '';
    const m = /^PVEAPIToken=([^!=\s]+@[^!=\s]+)!([^=\s]+)=(\S+)$/.exec(header);
    if (m) {
      const id = `${m[1]}!${m[2]}`;
      const token = opts.tokens.find((t) => t.id === id);
      if (!token || !safeEqual(token.secret, m[3]!)) throw new PveHttpError(401, 'invalid token value!');
      return { kind: 'token', user: m[1]!, tokenId: id, privsep: token.privsep, acl: token.acl };
    }
    const cookie = /(?:^|;\s*)PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (cookie) {
      const t = tickets.get(decodeURIComponent(cookie));
      if (!t || t.expires < Date.now()) throw new PveHttpError(401, 'invalid PVE ticket');
      if (method !== 'GET' && req.headers.csrfpreventiontoken !== t.csrf) throw new PveHttpError(401, 'Permission denied - invalid csrf token');
      return { kind: 'user', user: t.user };
    }
    throw new PveHttpError(401, 'No ticket');
  }

  function ticket(p: Params): unknown {
    const username = p.username ?? '';
    let ok = opts.users[username] !== undefined && safeEqual(opts.users[username]!, p.password ?? '');
    // Renewal: the old ticket is accepted as the password.
    const renew = tickets.get(p.password ?? '');
    if (!ok && renew && renew.user === username && renew.expires > Date.now()) ok = true;
    if (!ok) throw new PveHttpError(401, 'authentication failure');
    const value = `PVE:${username}:${Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase()}::${randomBytes(24).toString('base64')}`;
    const csrf = `${Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase()}:${randomBytes(16).toString('base64url')}`;
    tickets.set(value, { user: username, csrf, expires: Date.now() + 2 * 3600_000 });
    return { username, ticket: value, CSRFPreventionToken: csrf, cap: {} };
  }

  async function readForm(req: IncomingMessage): Promise<Params> {
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/')) return {};
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (!body) return {};
    if (type.includes('json')) {
      const obj = JSON.parse(body) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v)]));
    }
    return Object.fromEntries(new URLSearchParams(body));
  }

  function send(res: ServerResponse, status: number, reason: string, body: unknown): void {
    // A reason phrase is one line of visible text.
    res.statusMessage = reason.replace(/[\r\n]+/g, ' ').replace(/[^\t\x20-\x7e]/g, '?');
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  function sendError(res: ServerResponse, err: unknown): void {
    if (err instanceof PveHttpError) {
      const body: Record<string, unknown> = { data: null };
      if (err.errors) body.errors = err.errors;
      if (opts.messageInBody) body.message = `${err.message}\n`;
      send(res, err.status, err.message, body);
    } else {
      send(res, 500, err instanceof Error ? err.message : String(err), { data: null });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://sim');
    const method = req.method ?? 'GET';
    if (!url.pathname.startsWith('/api2/json/')) return send(res, 501, 'Not Implemented', { data: null });
    const path = url.pathname.slice('/api2/json'.length).replace(/\/+$/, '');
    try {
      const query = Object.fromEntries(url.searchParams);
      const body = method === 'GET' || method === 'DELETE' ? {} : await readForm(req);
      const params: Params = { ...query, ...body };
      if (c.faults.latencyMs) await sleep(c.faults.latencyMs * (0.5 + c.random()));
      if (path === '/access/ticket' && method === 'POST') return send(res, 200, 'OK', { data: ticket(params) });
      const auth = authenticate(req, method);
      for (const [verb, re, handler] of routes) {
        if (verb !== method) continue;
        const m = re.exec(path);
        if (!m) continue;
        // The bulk listing's filter is part of what a test checks (`?type=vm`: guests only).
        const key = `${verb} ${routeName(re)}${path === '/cluster/resources' && params.type ? `?type=${params.type}` : ''}`;
        c.calls.set(key, (c.calls.get(key) ?? 0) + 1);
        if (c.faults.failingPaths.includes(path)) throw new PveHttpError(500, 'simulated failure');
        const fault = path !== '/version' && c.random() < c.faults.http5xxRate ? (c.random() < 0.5 ? 'before' : 'after') : null;
        if (fault === 'before') throw new PveHttpError(596, 'Connection timed out');
        const data = await handler(auth, [...m], params, req);
        // The work was done but the answer got lost on the way back (proxy timeout).
        if (fault === 'after') throw new PveHttpError(596, 'Connection timed out');
        return send(res, 200, 'OK', { data: data ?? null });
      }
      throw new PveHttpError(501, `Method '${method} ${path}' not implemented`);
    } catch (err) {
      sendError(res, err);
    }
  }

  const server = https.createServer({ key: opts.key, cert: opts.cert }, (req, res) => {
    handle(req, res).catch((err) => sendError(res, err));
  });

  return {
    server,
    listen(host = '127.0.0.1', port = 0): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      });
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A route's pattern as PVE's API viewer names it: `/nodes/{node}/lxc/{vmid}/status/current`. */
function routeName(re: RegExp): string {
  return re.source
    .replace(/^\^|\$$/g, '')
    .replace(/\\\//g, '/')
    .replace(/\/(nodes|tasks|storage)\/\(\[\^\/\]\+\)/g, (_m, seg: string) => `/${seg}/{${{ nodes: 'node', tasks: 'upid', storage: 'storage' }[seg]}}`)
    .replace(/\(\\d\+\)/g, '{vmid}');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
