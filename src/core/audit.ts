// Writing to the audit log from the core: one call shape for every hook
// (service, lifecycle, HTTP routes, the lead's shares), and a failed write is
// logged, never allowed to undo or block the action it describes.
import type { Logger } from '../logger.ts';
import type { Clock } from './clock.ts';
import type { Actor, AuditEntry, AuditLog, AuditOutcome } from './audit-port.ts';

export interface AuditNote {
  actor: Actor;
  sessionId?: string | null;
  outcome?: AuditOutcome;
  detail?: AuditEntry['detail'];
}

export type Audit = (action: string, note: AuditNote) => Promise<void>;

export function createAudit(log: AuditLog, clock: Clock, logger: Logger): Audit {
  return async (action, note) => {
    try {
      await log.record({
        at: clock.now(),
        actor: note.actor.kind,
        action,
        outcome: note.outcome ?? 'ok',
        address: note.actor.address ?? null,
        sessionId: note.sessionId ?? null,
        detail: note.detail ?? {},
      });
    } catch (error) {
      logger.error({ err: error, action }, 'could not write to the audit log');
    }
  };
}

export const systemActor: Actor = { kind: 'system' };
