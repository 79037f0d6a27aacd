// One SSH endpoint per simulated node (ssh2 Server), answering the few `pct`
// commands Winux runs as root on a Proxmox node: `pct exec <vmid> -- …` (with
// chpasswd reading "user:password" lines from stdin), `pct unlock`, `pct status`.
// Only public-key authentication is accepted, as with the seed's SSH key.
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { SimCluster, SimCt } from './cluster.ts';

const { Server, utils } = ssh2;

export interface SshEndpoint {
  port: number;
  /** OpenSSH private key the simulator accepts for user root. */
  clientPrivateKey: string;
  clientPublicKey: string;
  hostPublicKey: string;
  /** Every command line received, for tests that check no secret ever appears in one. */
  commands: string[];
  close(): Promise<void>;
}

/** Splits a command line the way a POSIX shell would for plain words and quotes. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated quote');
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\') j++;
        cur += line[j];
        j++;
      }
      i = j;
      inWord = true;
    } else if (ch === '\\') {
      cur += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) {
        out.push(cur);
        cur = '';
        inWord = false;
      }
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

interface Exec {
  stdin: string;
  write(s: string): void;
  error(s: string): void;
}

function runPct(cluster: SimCluster, nodeName: string, argv: string[], io: Exec): number {
  if (argv[0] !== 'pct') {
    io.error(`bash: ${argv[0]}: command not found\n`);
    return 127;
  }
  const sub = argv[1];
  const vmid = Number(argv[2]);
  const ct = cluster.cts.get(vmid);
  if (!ct || ct.node !== nodeName) {
    io.error(`Configuration file 'nodes/${nodeName}/lxc/${argv[2]}.conf' does not exist\n`);
    return 2;
  }
  if (sub === 'unlock') {
    cluster.unlock(vmid);
    return 0;
  }
  if (sub === 'status') {
    io.write(`status: ${ct.status}\n`);
    return 0;
  }
  if (sub === 'exec') {
    if (argv[3] !== '--') {
      io.error('400 too many arguments\n');
      return 255;
    }
    if (ct.status !== 'running') {
      io.error(`CT ${vmid} not running\n`);
      return 255;
    }
    return runInCt(cluster, ct, argv.slice(4), io);
  }
  io.error(`ERROR: unknown command 'pct ${sub}'\n`);
  return 255;
}

const sessionInitPath = '/usr/local/sbin/winux-session-init';
const sessionSetPath = '/usr/local/sbin/winux-session-set';

/** A model of the few commands run inside a container, not a shell. */
function runInCt(cluster: SimCluster, ct: SimCt, argv: string[], io: Exec): number {
  const script = argv[0] === 'sh' || argv[0] === '/bin/sh' ? (argv[2] ?? '') : argv.join(' ');
  // `winux-session-init` run directly, or `[ -x …/winux-session-init ] && exec …` as the providers do: only a Winux image has it.
  const direct = argv[0] === sessionInitPath;
  const guarded = script.includes(`[ -x ${sessionInitPath} ]`) && script.includes(`exec ${sessionInitPath}`);
  if (direct && !ct.winuxImage) {
    io.error(`lxc-attach: ${ct.vmid}: attach.c: No such file or directory - Failed to exec "${sessionInitPath}"\n`);
    return 255;
  }
  if ((direct || guarded) && ct.winuxImage) {
    // Its options: after the path when run directly, else up to the end of the `exec …` command.
    const args = direct ? argv.slice(1) : shellWords(script.slice(script.indexOf(`exec ${sessionInitPath}`)).split(';')[0]!).slice(2);
    return cluster.sessionInit(ct, io.stdin, io.error, args);
  }
  const setGuarded = script.includes(`[ -x ${sessionSetPath} ]`) && script.includes(`exec ${sessionSetPath}`);
  if (setGuarded) {
    if (!ct.winuxImage) return 0;
    const args = shellWords(script.slice(script.indexOf(`exec ${sessionSetPath}`)).split(';')[0]!).slice(2);
    return cluster.sessionSet(ct, args, io.error);
  }
  const useradd = /useradd\b[^;|&]*?\s([a-z_][a-z0-9_-]*)\s*(?:;|\|\||&&|$)/.exec(script);
  if (useradd && !ct.users.has(useradd[1]!)) ct.users.set(useradd[1]!, '');
  if (/\bchpasswd\b/.test(script)) {
    const lines = io.stdin.split('\n').filter(Boolean);
    for (const [i, line] of lines.entries()) {
      const sep = line.indexOf(':');
      const user = line.slice(0, sep);
      if (sep < 1 || !ct.users.has(user)) {
        io.error(`chpasswd: line ${i + 1}: user '${user}' does not exist\n`);
        return 1;
      }
      ct.users.set(user, line.slice(sep + 1));
    }
    return 0;
  }
  if (/^true$/.test(script.trim())) return 0;
  io.error(`sh: 1: ${argv[0]}: not found\n`);
  return 127;
}

// ssh2's generateKeyPairSync drops a leading zero byte of an ed25519 public
// key (about 1 key in 300), writing a 31-byte key its own parser then rejects
// as "Malformed OpenSSH public key". Such a key is drawn again.
function generateEd25519(comment?: string): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519', comment ? { comment } : {});
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

export async function startSshEndpoints(cluster: SimCluster): Promise<SshEndpoint> {
  const hostKey = generateEd25519();
  const client = generateEd25519('winux-sim');
  const allowed = utils.parseKey(client.public);
  if (allowed instanceof Error) throw allowed;
  const commands: string[] = [];
  const servers: InstanceType<typeof Server>[] = [];

  const makeServer = (nodeName: string) =>
    new Server({ hostKeys: [hostKey.private] }, (conn) => {
      conn.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey' || ctx.username !== 'root') return ctx.reject(['publickey']);
        const pub = allowed.getPublicSSH();
        const offered = ctx.key.data;
        if (ctx.key.algo !== allowed.type || offered.length !== pub.length || !timingSafeEqual(offered, pub)) return ctx.reject(['publickey']);
        if (!ctx.signature) return ctx.accept();
        if (allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
        return ctx.reject(['publickey']);
      });
      conn.on('ready', () => {
        conn.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec, _reject, info) => {
            const stream = acceptExec();
            commands.push(info.command);
            const chunks: Buffer[] = [];
            stream.on('data', (d: Buffer) => chunks.push(d));
            stream.on('end', () => {
              let code: number;
              const io: Exec = {
                stdin: Buffer.concat(chunks).toString('utf8'),
                // A client that went away (a replica stopped mid-command) gets nothing more.
                write: (s) => void (stream.writable && stream.write(s)),
                error: (s) => void (stream.stderr.writable && stream.stderr.write(s)),
              };
              try {
                code = runPct(cluster, nodeName, shellWords(info.command), io);
              } catch (e) {
                io.error(`${String(e)}\n`);
                code = 2;
              }
              if (!stream.writable) return;
              stream.exit(code);
              stream.end();
            });
          });
        });
      });
      conn.on('error', () => {});
    });

  let port = 0;
  for (const node of cluster.nodes.values()) {
    const srv = makeServer(node.name);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, node.ip, () => resolve());
    });
    port = (srv.address() as AddressInfo).port;
    servers.push(srv);
  }
  return {
    port,
    clientPrivateKey: client.private,
    clientPublicKey: client.public,
    hostPublicKey: hostKey.public,
    commands,
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
