// Runs one of the seed's playbooks as a child process and reads its JSON result
// from a private file (-e result_file=…). Secrets go in the child's environment,
// never on its command line; the output we keep for errors is the tail of
// Ansible's own (its tasks are no_log where secrets pass).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProviderError } from '../../core/errors.ts';

export interface PlaybookRun {
  playbook: string;
  /** `-e key=value` pairs: ids and names only, nothing secret. */
  extraVars: Record<string, string | number>;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Called with each `TASK [name]` as Ansible reaches it. */
  onTask?(name: string): void;
  timeoutMs: number;
}

export async function runPlaybook<T>(run: PlaybookRun): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-ansible-'));
  const resultFile = path.join(dir, 'result.json');
  const args = [run.playbook];
  for (const [k, v] of Object.entries({ ...run.extraVars, result_file: resultFile })) args.push('-e', `${k}=${v}`);
  try {
    const { code, tail } = await new Promise<{ code: number | null; tail: string }>((resolve, reject) => {
      const child = spawn('ansible-playbook', args, {
        env: {
          ...run.env,
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_FORCE_COLOR: '0',
          ANSIBLE_RETRY_FILES_ENABLED: '0',
          ANSIBLE_LOCALHOST_WARNING: 'false',
          ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
          ANSIBLE_DEPRECATION_WARNINGS: 'false',
          PYTHONUNBUFFERED: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let out = '';
      let buf = '';
      const keep = (s: string) => {
        out = (out + s).slice(-8000);
      };
      child.stdout.on('data', (d: Buffer) => {
        const s = d.toString('utf8');
        keep(s);
        buf += s;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const m = /^TASK \[(.+?)\]/.exec(line);
          if (m) run.onTask?.(m[1]!);
        }
      });
      child.stderr.on('data', (d: Buffer) => keep(d.toString('utf8')));
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(kill, run.timeoutMs);
      run.signal?.addEventListener('abort', kill, { once: true });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new ProviderError(`Cannot run ansible-playbook: ${err.message} (install it with ansible/install-deps.sh)`));
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        run.signal?.removeEventListener('abort', kill);
        resolve({ code: c, tail: out });
      });
    });
    if (run.signal?.aborted) throw run.signal.reason instanceof Error ? run.signal.reason : new ProviderError('aborted');
    if (code !== 0) {
      throw new ProviderError(`${path.basename(run.playbook)} failed (exit ${code}): ${summarise(tail)}`, true);
    }
    try {
      return JSON.parse(readFileSync(resultFile, 'utf8')) as T;
    } catch {
      throw new ProviderError(`${path.basename(run.playbook)} finished without writing its result`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The "fatal: … msg" lines Ansible prints, which say what failed. */
function summarise(output: string): string {
  const fatal = output
    .split('\n')
    .filter((l) => /^fatal:|"msg":/.test(l))
    .slice(-3)
    .join(' ')
    .replace(/\s+/g, ' ');
  return (fatal || output.split('\n').filter(Boolean).slice(-3).join(' ')).slice(0, 600);
}
