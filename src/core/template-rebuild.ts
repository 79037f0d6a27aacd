// Rebuilding the desktop template from the console: one rebuild at a time per
// process (a second is refused with 409 while one runs), its progress kept and
// emitted as it comes so every open console shows it live, and the start and
// outcome written to the audit log. The provider does the work
// (Provider.rebuildTemplate); sessions keep running on their own copy meanwhile.
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.ts';
import type { Audit } from './audit.ts';
import type { Actor } from './audit-port.ts';
import type { Clock } from './clock.ts';
import { errors } from './errors.ts';
import type { Provider, TemplateProgressEvent } from './provider-port.ts';

/** Enough lines to follow a build; older ones are dropped (a real build prints thousands). */
const keptLines = 200;

export interface RebuildLine {
  at: number;
  step: string;
  detail: string | null;
}

export interface RebuildState {
  running: boolean;
  startedAt: number | null;
  finishedAt: number | null;
  outcome: 'ok' | 'failed' | null;
  error: string | null;
  step: string | null;
  lines: RebuildLine[];
}

export class TemplateRebuilds extends EventEmitter<{ change: [RebuildState] }> {
  private current: RebuildState = { running: false, startedAt: null, finishedAt: null, outcome: null, error: null, step: null, lines: [] };
  private readonly abort = new AbortController();
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly o: { provider: Provider; audit: Audit; clock: Clock; logger: Logger }) {
    super();
    // One listener per open console.
    this.setMaxListeners(0);
  }

  get state(): RebuildState {
    return { ...this.current, lines: [...this.current.lines] };
  }

  /** Starts a rebuild and returns at once; throws 409 while one runs, and when the provider offers none. */
  async start(actor: Actor): Promise<RebuildState> {
    const { provider } = this.o;
    if (this.current.running) throw errors.conflict('A template rebuild is already running; wait for it to finish.');
    const status = await provider.templateStatus?.();
    if (!provider.rebuildTemplate || !status?.rebuild.offered) {
      const reason = status && !status.rebuild.offered ? status.rebuild.reason : `The ${provider.name} provider cannot rebuild its template from here.`;
      throw errors.conflict(reason, { reason: 'not_offered' });
    }
    // Checked again after the await: two clicks may both have passed the first check.
    if (this.current.running) throw errors.conflict('A template rebuild is already running; wait for it to finish.');
    const now = this.o.clock.now();
    this.current = { running: true, startedAt: now, finishedAt: null, outcome: null, error: null, step: null, lines: [] };
    await this.o.audit('template.rebuild', { actor, detail: { provider: provider.name } });
    const rebuild = provider.rebuildTemplate.bind(provider);
    this.work = this.follow(rebuild, actor);
    this.emitChange();
    return this.state;
  }

  private async follow(rebuild: NonNullable<Provider['rebuildTemplate']>, actor: Actor): Promise<void> {
    const progress = (e: TemplateProgressEvent) => {
      this.current.step = e.step;
      this.current.lines.push({ at: this.o.clock.now(), step: e.step, detail: e.detail ?? null });
      if (this.current.lines.length > keptLines) this.current.lines.splice(0, this.current.lines.length - keptLines);
      this.emitChange();
    };
    try {
      await rebuild(progress, this.abort.signal);
      this.finish('ok', null);
      await this.o.audit('template.rebuilt', { actor, detail: { provider: this.o.provider.name } });
    } catch (error) {
      const message = (error as Error).message;
      this.o.logger.error({ err: error }, 'the template rebuild failed');
      this.finish('failed', message);
      await this.o.audit('template.rebuilt', { actor, outcome: 'failed', detail: { error: message.slice(0, 200) } });
    }
  }

  private finish(outcome: 'ok' | 'failed', error: string | null): void {
    Object.assign(this.current, { running: false, finishedAt: this.o.clock.now(), outcome, error });
    this.emitChange();
  }

  private emitChange(): void {
    this.emit('change', this.state);
  }

  /** Stops a running rebuild (server shutdown) and waits for it to end. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.work;
  }
}
