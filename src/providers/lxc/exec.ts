// Runs host commands without a shell: arguments are passed as an array, so no
// value is ever interpreted by a shell, and secrets travel on stdin only.
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to the child's stdin, then closed (how passwords reach a container). */
  input?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Exit codes that are not an error (e.g. 1 for "rule not found"). */
  okCodes?: number[];
  env?: NodeJS.ProcessEnv;
  /** Called with each line of stdout+stderr as it arrives (progress displays). */
  onLine?: (line: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    // The message names the command and its error output, never its stdin.
    super(`${command} failed${code === null ? '' : ` (exit ${code})`}: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`, options);
    this.name = 'CommandError';
  }
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const feed = (chunk: string) => {
      if (!options.onLine) return;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        options.onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      feed(c);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      feed(c);
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading stdin */
    });
    child.stdin.end(options.input ?? '');
    child.on('error', (err) => reject(new CommandError(file, null, err.message, { cause: err })));
    child.on('close', (code, sig) => {
      if (pending && options.onLine) options.onLine(pending);
      const exit = code ?? -1;
      if (exit === 0 || options.okCodes?.includes(exit)) resolve({ code: exit, stdout, stderr });
      else reject(new CommandError(file, code, sig ? `${stderr}\nkilled by ${sig}` : stderr));
    });
  });
}

/** True when `file` runs (used by checks: is a tool installed?). */
export async function commandExists(file: string): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v "$1"', 'sh', file]);
    return true;
  } catch {
    return false;
  }
}
