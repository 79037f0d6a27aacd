// Behaviour fakes of a provider, for tests only (the product never ships one):
// FakeProvider works; SlowProvider, NeverReadyProvider, FailingProvider,
// CrashingProvider and DownProvider each change one behaviour, by name.
// Machines live in a JSON file when `stateFile` is given, so a server killed with
// SIGKILL and started again finds the "containers" it left behind, as with LXC.
import fs from 'node:fs';
import type { CreationStep } from '../../src/core/session.ts';
import { ProviderError } from '../../src/core/errors.ts';
import type {
  CreateContext,
  CreateSpec,
  CreatedMachine,
  ManagedMachine,
  MachineState,
  Provider,
  ProviderCheck,
  ProviderRef,
} from '../../src/core/provider-port.ts';
// The Proxmox provider's abortable sleep: the fake's waits end on abort the way a real provider's do.
import { sleep } from '../../src/providers/proxmox/backoff.ts';

export interface FakeProviderOptions {
  /** Time each creation step takes. */
  stepDelayMs?: number;
  /** Persist machines here (crash tests across processes). */
  stateFile?: string;
}

/** Named points of the fake's work, where a crash test may kill the process. */
export type FakePoint = 'machine-created' | 'machine-removed';

interface FakeMachine {
  containerId: number;
  state: MachineState;
  password: string;
  username: string;
}

/**
 * A provider that works, quickly, and never pretends to be a real one (its name
 * is `fake`). The named fakes below change one behaviour each.
 */
export class FakeProvider implements Provider {
  readonly name = 'fake';
  readonly calls = { create: 0, destroy: 0, list: 0 };
  private memory = new Map<number, FakeMachine>();

  constructor(public options: FakeProviderOptions = {}) {}

  /** Behaviour hooks, overridden by the named fakes. */
  protected async afterStep(_index: number, _signal: AbortSignal): Promise<void> {}
  /** A failure message when this creation should fail. */
  protected createFailure(_spec: CreateSpec): string | undefined {
    return undefined;
  }
  protected destroyFails(_ref: ProviderRef): boolean {
    return false;
  }
  protected reached(_point: FakePoint): void {}
  protected healthy = true;

  async create(spec: CreateSpec, ctx: CreateContext): Promise<CreatedMachine> {
    this.calls.create++;
    const steps: CreationStep[] = ['cloning', 'starting', 'network', 'desktop'];
    for (const [i, step] of steps.entries()) {
      ctx.progress(step);
      if (i === 1) {
        // The machine exists from here on (as a clone would), even if a later step fails.
        this.write(spec.containerId, { containerId: spec.containerId, state: 'running', password: spec.password, username: spec.username });
        this.reached('machine-created');
      }
      await sleep(this.options.stepDelayMs ?? 5, ctx.signal);
      await this.afterStep(i, ctx.signal);
    }
    const failure = this.createFailure(spec);
    if (failure !== undefined) throw new ProviderError(failure);
    return {
      ref: { containerId: spec.containerId, name: `winux-${spec.containerId}` },
      node: 'fake-node',
      ip: `127.0.0.1`,
      endpoint: { host: null, port: 40000 + (spec.containerId % 20000) },
    };
  }

  async destroy(ref: ProviderRef): Promise<void> {
    this.calls.destroy++;
    if (this.destroyFails(ref)) throw new ProviderError(`simulated failure destroying winux-${ref.containerId}`, true);
    this.remove(ref.containerId);
    this.reached('machine-removed');
  }

  async status(ref: ProviderRef): Promise<MachineState> {
    return this.read().get(ref.containerId)?.state ?? 'missing';
  }

  async list(): Promise<ManagedMachine[]> {
    this.calls.list++;
    return [...this.read().values()].map((m) => ({ containerId: m.containerId, ref: { containerId: m.containerId }, state: m.state }));
  }

  async check(): Promise<ProviderCheck[]> {
    return [{ name: 'fake', ok: this.healthy, detail: this.healthy ? 'ok' : 'simulated outage' }];
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

/** Each creation step takes `stepDelayMs`: a cold start slow enough to watch (JupyterHub's SlowSpawner). */
export class SlowProvider extends FakeProvider {
  constructor(stepDelayMs: number, options: Omit<FakeProviderOptions, 'stepDelayMs'> = {}) {
    super({ ...options, stepDelayMs });
  }
}

/** Its machines never become ready: creation waits until it is aborted (JupyterHub's NeverSpawner). */
export class NeverReadyProvider extends FakeProvider {
  protected override async afterStep(index: number, signal: AbortSignal): Promise<void> {
    if (index >= 1) await sleep(1e9, signal);
  }
}

export interface FailingOptions extends FakeProviderOptions {
  /** Whether a creation fails (after its machine exists, as a late step would). Default: when no `destroy` rule is given, always. */
  create?: (spec: CreateSpec) => boolean;
  /** Whether a removal fails (retryable). Default: never. */
  destroy?: (ref: ProviderRef) => boolean;
  /** The failure's message (to check secrets are scrubbed). */
  message?: (spec: CreateSpec) => string;
}

/** Creation and/or removal fail, as its rules say. */
export class FailingProvider extends FakeProvider {
  constructor(private readonly rules: FailingOptions = {}) {
    super(rules);
  }

  protected override createFailure(spec: CreateSpec): string | undefined {
    const fails = this.rules.create ? this.rules.create(spec) : !this.rules.destroy;
    return fails ? (this.rules.message?.(spec) ?? `simulated failure creating winux-${spec.containerId}`) : undefined;
  }

  protected override destroyFails(ref: ProviderRef): boolean {
    return this.rules.destroy?.(ref) ?? false;
  }
}

/** Kills its own process with SIGKILL at a named point: what a crash does to a server. */
export class CrashingProvider extends FakeProvider {
  constructor(
    private readonly at: FakePoint | undefined,
    options: FakeProviderOptions = {},
  ) {
    super(options);
  }

  protected override reached(point: FakePoint): void {
    if (point === this.at) process.kill(process.pid, 'SIGKILL');
  }
}

/** The infrastructure is down: its health checks fail (creation itself is not attempted by them). */
export class DownProvider extends FakeProvider {
  protected override healthy = false;
}
