// A behaviour fake of a provider, for core tests only (the product never ships
// one). Machines live in a JSON file when `stateFile` is given, so a server
// killed with SIGKILL and started again finds the "containers" it left behind,
// as it would with LXC or Proxmox.
import fs from 'node:fs';
import type { CreationStep } from '../../src/core/session.ts';
import { ProviderError } from '../../src/core/errors.ts';
import type { CreateContext, CreateSpec, CreatedMachine, ManagedMachine, MachineState, Provider, ProviderCheck, ProviderRef } from '../../src/core/provider-port.ts';

export interface FakeProviderOptions {
  /** Time each creation step takes. */
  stepDelayMs?: number;
  /** Decides whether a call fails: return true to throw. */
  failCreate?: (spec: CreateSpec) => boolean;
  failDestroy?: (ref: ProviderRef) => boolean;
  /** Persist machines here (crash tests across processes). */
  stateFile?: string;
  /** Never resolve creations (until aborted). */
  hang?: boolean;
  healthy?: boolean;
  /** Called at named points ('machine-created', 'machine-removed'): crash tests kill the process there. */
  onPoint?: (point: 'machine-created' | 'machine-removed') => void;
  /** Message of a failed creation (to check secrets are scrubbed). */
  failMessage?: (spec: CreateSpec) => string;
}

interface FakeMachine {
  containerId: number;
  state: MachineState;
  password: string;
  username: string;
}

export class FakeProvider implements Provider {
  readonly name = 'lxc' as const;
  readonly calls = { create: 0, destroy: 0, list: 0 };
  private memory = new Map<number, FakeMachine>();

  constructor(public options: FakeProviderOptions = {}) {}

  async create(spec: CreateSpec, ctx: CreateContext): Promise<CreatedMachine> {
    this.calls.create++;
    const steps: CreationStep[] = ['cloning', 'starting', 'network', 'desktop'];
    for (const [i, step] of steps.entries()) {
      ctx.progress(step);
      if (i === 1) {
        // The machine exists from here on (as a clone would), even if a later step fails.
        this.write(spec.containerId, { containerId: spec.containerId, state: 'running', password: spec.password, username: spec.username });
        this.options.onPoint?.('machine-created');
      }
      await sleep(this.options.stepDelayMs ?? 5, ctx.signal);
      if (this.options.hang && i >= 1) await sleep(1e9, ctx.signal);
    }
    if (this.options.failCreate?.(spec)) {
      throw new ProviderError(this.options.failMessage?.(spec) ?? `simulated failure creating winux-${spec.containerId}`);
    }
    return {
      ref: { containerId: spec.containerId, name: `winux-${spec.containerId}` },
      node: 'fake-node',
      ip: `127.0.0.1`,
      endpoint: { host: null, port: 40000 + (spec.containerId % 20000) },
    };
  }

  async destroy(ref: ProviderRef): Promise<void> {
    this.calls.destroy++;
    if (this.options.failDestroy?.(ref)) throw new ProviderError(`simulated failure destroying winux-${ref.containerId}`, true);
    this.remove(ref.containerId);
    this.options.onPoint?.('machine-removed');
  }

  async status(ref: ProviderRef): Promise<MachineState> {
    return this.read().get(ref.containerId)?.state ?? 'missing';
  }

  async list(): Promise<ManagedMachine[]> {
    this.calls.list++;
    return [...this.read().values()].map((m) => ({ containerId: m.containerId, ref: { containerId: m.containerId }, state: m.state }));
  }

  async check(): Promise<ProviderCheck[]> {
    return [{ name: 'fake', ok: this.options.healthy !== false, detail: this.options.healthy === false ? 'simulated outage' : 'ok' }];
  }

  /** Test hooks. */
  machines(): FakeMachine[] {
    return [...this.read().values()];
  }

  kill(containerId: number): void {
    const m = this.read().get(containerId);
    if (m) this.write(containerId, { ...m, state: 'stopped' });
  }

  /** Adds a machine nobody asked for (an orphan). */
  plant(containerId: number): void {
    this.write(containerId, { containerId, state: 'running', password: 'x', username: 'winux' });
  }

  private read(): Map<number, FakeMachine> {
    if (!this.options.stateFile) return this.memory;
    try {
      const list = JSON.parse(fs.readFileSync(this.options.stateFile, 'utf8')) as FakeMachine[];
      return new Map(list.map((m) => [m.containerId, m]));
    } catch {
      return new Map();
    }
  }

  private save(map: Map<number, FakeMachine>): void {
    if (!this.options.stateFile) {
      this.memory = map;
      return;
    }
    const tmp = `${this.options.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify([...map.values()]));
    fs.renameSync(tmp, this.options.stateFile);
  }

  private write(id: number, machine: FakeMachine): void {
    const map = this.read();
    map.set(id, machine);
    this.save(map);
  }

  private remove(id: number): void {
    const map = this.read();
    map.delete(id);
    this.save(map);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
