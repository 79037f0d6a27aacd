// A child process whose stdout and stderr the test reads as one text, in the order
// they arrived: for servers started as a deployment would (`winux serve`,
// `npm start`) and checked by what they print.
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';

/** Gathers what `child` writes on stdout and stderr; the returned function reads it so far. */
export function collectOutput(child: Pick<ChildProcess, 'stdout' | 'stderr'>): () => string {
  let output = '';
  const append = (c: Buffer | string) => {
    output += c;
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output;
}

export interface WatchedProcess {
  child: ChildProcess;
  /** Everything it has written so far, stdout and stderr together. */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Resolves once `pattern` shows in the output; rejects with `what` and the output if it ends or `timeoutMs` passes first. */
  waitForOutput(pattern: RegExp, timeoutMs: number, what: string): Promise<void>;
}

export function spawnWatched(command: string, args: string[], options: Omit<SpawnOptions, 'stdio'> = {}): WatchedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    async waitForOutput(pattern, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output())) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`${what}:\n${output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
