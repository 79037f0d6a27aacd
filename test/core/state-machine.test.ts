// The transition table is the only source of legal moves: the named moves and the
// status groups are derived from it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sessionMoves } from '../../src/core/moves.ts';
import { allowedFrom, isEnded, runningStatuses, statuses, transitions, unendedStatuses, type SessionStatus } from '../../src/core/session.ts';

describe('state machine', () => {
  it('named moves start only from the statuses the table allows', async () => {
    const calls: { from: readonly SessionStatus[]; to: SessionStatus }[] = [];
    const moves = sessionMoves({
      transition: async (_id, from, to) => {
        calls.push({ from, to });
        return undefined;
      },
    });
    await moves.markReady('s', {}, 0);
    await moves.beginDestroy('s', {}, 0);
    await moves.fail('s', {}, 0);
    await moves.markDestroyed('s', {}, 0);
    assert.deepEqual(calls, [
      { from: ['creating'], to: 'ready' },
      { from: ['creating', 'ready'], to: 'destroying' },
      { from: ['creating', 'ready', 'destroying'], to: 'failed' },
      { from: ['destroying'], to: 'destroyed' },
    ]);
    for (const { from, to } of calls) for (const f of from) assert.ok(transitions[f].includes(to));
  });

  it("one name per meaning: running (the visitor's, can be ended) and unended (some move left)", () => {
    assert.deepEqual(runningStatuses, ['creating', 'ready']);
    assert.deepEqual(unendedStatuses, ['creating', 'ready', 'destroying']);
    assert.deepEqual(statuses.filter(isEnded), ['destroyed', 'failed']);
    assert.deepEqual(allowedFrom('creating'), []);
  });
});
