// Secrets stay secret: a whole session lifecycle (create, read, extend, .rdp,
// delete, a failing creation whose provider error quotes the password, admin
// calls) runs while every log line is captured and every process's command line
// on this machine is sampled from another thread. No password, session token or
// admin token may show up in either, nor in error bodies; the database holds
// only token hashes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProxmoxProvider } from '../../src/providers/proxmox/index.ts';
import { FailingProvider } from '../support/fake-provider.ts';
import { startProxmoxSim } from '../support/proxmox-sim/index.ts';
import { fastTuning, simConfig } from '../providers/proxmox/sim-config.ts';
import { startCmdlineSampler } from '../support/cmdline-sampler.ts';
import { captureLogs } from '../support/logs.ts';
import { startTestServer, waitFor } from '../support/server.ts';

const api = '/api/winux';

describe('secrets', () => {
  test('passwords and tokens never reach logs, command lines or error bodies; the store keeps only token hashes', async () => {
    const { logger, lines } = captureLogs('trace');
    let failNext = false;
    const provider = new FailingProvider({
      stepDelayMs: 10,
      create: () => {
        const f = failNext;
        failNext = false;
        return f;
      },
      // A careless provider quoting its command, password included (as `chpasswd` errors might).
      message: (spec) => `pct exec ${spec.containerId} -- chpasswd: ${spec.username}:${spec.password} rejected`,
    });
    const sampler = startCmdlineSampler();
    const s = await startTestServer({
      provider,
      logger,
      env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_LOG_LEVEL: 'trace' },
    });
    const secrets: { what: string; value: string }[] = [{ what: 'admin token', value: s.adminToken }];
    const exposed: string[] = [];
    /** Answers that may legitimately show a secret: the owner's own session. */
    const check = (label: string, r: { body: unknown; headers: Headers }, allowed: string[] = []) => {
      const text = JSON.stringify(r.body) + JSON.stringify([...r.headers.entries()].filter(([k]) => k !== 'set-cookie'));
      for (const secret of secrets) if (!allowed.includes(secret.value) && text.includes(secret.value)) exposed.push(`${secret.what} in ${label}`);
    };
    try {
      // A session through its whole life.
      const created = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 20 } });
      assert.equal(created.status, 202);
      const { session_id: id, token, password } = created.body;
      secrets.push(
        { what: 'session password', value: password },
        { what: 'session token', value: token },
        { what: 'token secret', value: token.split('.')[1] },
      );
      await waitFor(async () => (await s.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'ready');
      check('owner GET', await s.request('GET', `${api}/sessions/${id}`, { token }), [password]);
      check('owner extend', await s.request('POST', `${api}/sessions/${id}/extend`, { token, body: { minutes: 5 } }), [password]);
      const rdp = await s.request('GET', `${api}/sessions/${id}/rdp`, { token });
      assert.equal(rdp.status, 200);
      check('.rdp file', rdp);
      check('list as owner', await s.request('GET', `${api}/sessions`, { token }), [password]);
      check('wrong token', await s.request('GET', `${api}/sessions/${id}`, { token: `${id}.nope` }));
      check('bad extend', await s.request('POST', `${api}/sessions/${id}/extend`, { token, body: { minutes: 'lots' } }));
      check('admin list', await s.request('GET', `${api}/sessions?status=all`, { token: s.adminToken }), [password]);
      check('cleanup', await s.request('POST', `${api}/cleanup`, { token: s.adminToken }));
      check('owner delete', await s.request('DELETE', `${api}/sessions/${id}`, { token }), [password]);
      check('after delete', await s.request('GET', `${api}/sessions/${id}`, { token }));

      // A creation that fails with the password in the provider's message.
      failNext = true;
      const doomed = await s.request('POST', `${api}/sessions`);
      secrets.push({ what: 'failed session password', value: doomed.body.password }, { what: 'failed session token', value: doomed.body.token });
      const failed = await waitFor(async () => {
        const r = await s.request('GET', `${api}/sessions/${doomed.body.session_id}`, { token: doomed.body.token });
        return r.body.status === 'failed' ? r : undefined;
      });
      assert.match(failed.body.error, /chpasswd/, 'the error is still useful');
      check('failed session', failed);
      await s.service.idle();

      const tokenHashes = (await s.store.list({})).map((x) => x.tokenHash);
      assert.equal(tokenHashes.length, 2);
      assert.ok(
        tokenHashes.every((h) => /^[0-9a-f]{64}$/.test(h)),
        'stored as SHA-256 hex',
      );
    } finally {
      await s.close();
    }
    const { samples, cmdlines } = await sampler.stop();

    const log = lines.join('');
    assert.ok(lines.length > 10, `the run was logged (${lines.length} lines)`);
    assert.match(log, /\[redacted\]/, "the provider's message reached the log, scrubbed");
    for (const { what, value } of secrets) {
      if (log.includes(value)) exposed.push(`${what} in the logs`);
      if (cmdlines.some((c) => c.includes(value))) exposed.push(`${what} in a process command line`);
    }
    assert.ok(samples >= 5, `command lines sampled during the run (${samples} passes)`);
    assert.ok(
      cmdlines.some((c) => c.includes('secrets.test.ts')),
      "the sampler does see command lines (this test's own)",
    );

    // Read the database files byte for byte: a hash may be there, a token may not.
    for (const file of fs.readdirSync(s.dataDir).filter((f) => f.startsWith('winux.db'))) {
      const bytes = fs.readFileSync(path.join(s.dataDir, file)).toString('latin1');
      for (const { what, value } of secrets.filter((x) => x.what.includes('token'))) {
        if (bytes.includes(value)) exposed.push(`${what} in ${file}`);
      }
    }
    assert.deepEqual(exposed, []);

    assert.equal(fs.statSync(s.dataDir).mode & 0o777, 0o700, 'data dir is 0700');
    assert.equal(fs.statSync(path.join(s.dataDir, 'admin-token')).mode & 0o777, 0o600, 'admin token file is 0600');
  });

  test('with the Proxmox provider (simulator): the API token secret and SSH key never reach logs or command lines', async () => {
    const { logger, lines } = captureLogs('trace');
    const sim = await startProxmoxSim();
    const config = simConfig(sim);
    const keyLines = fs
      .readFileSync(config.proxmox.sshKeyPath!, 'utf8')
      .split('\n')
      .filter((l) => l.length >= 40 && !l.startsWith('-----'));
    const secrets = [{ what: 'Proxmox token secret', value: config.proxmox.tokenSecret! }, ...keyLines.map((value) => ({ what: 'SSH private key', value }))];
    assert.ok(keyLines.length > 0 && secrets[0].value.length > 8, 'there are secrets to look for');
    const provider = createProxmoxProvider(config, logger, fastTuning(sim));
    const sampler = startCmdlineSampler();
    const s = await startTestServer({ provider, logger, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    const bodies: string[] = [];
    try {
      const created = await s.request('POST', `${api}/sessions`);
      const { session_id: id, token, password } = created.body;
      secrets.push({ what: 'session password', value: password }, { what: 'session token', value: token });
      const ready = await waitFor(async () => {
        const r = await s.request('GET', `${api}/sessions/${id}`, { token });
        return ['ready', 'failed'].includes(r.body.status) ? r : undefined;
      }, 30_000);
      assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.error));
      // A failing clone: its error travels through logs and the session's error field.
      sim.cluster.failNext('clone', 100);
      sim.cluster.failNext('create', 100);
      const doomed = await s.request('POST', `${api}/sessions`);
      secrets.push({ what: 'failed session password', value: doomed.body.password });
      const failed = await waitFor(async () => {
        const r = await s.request('GET', `${api}/sessions/${doomed.body.session_id}`, { token: doomed.body.token });
        return ['ready', 'failed'].includes(r.body.status) ? r : undefined;
      }, 30_000);
      assert.equal(failed.body.status, 'failed', 'the clone kept failing');
      bodies.push(JSON.stringify(failed.body));
      bodies.push(JSON.stringify((await s.request('GET', `${api}/health`)).body));
      bodies.push(JSON.stringify((await s.request('DELETE', `${api}/sessions/${id}`, { token })).body));
      await waitFor(async () => (await s.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'destroyed', 30_000);
      await s.service.idle();
    } finally {
      await s.close();
      await sim.close();
    }
    const { cmdlines } = await sampler.stop();
    const log = lines.join('');
    assert.ok(lines.length > 10, 'the run was logged');
    const exposed: string[] = [];
    for (const { what, value } of secrets) {
      if (log.includes(value)) exposed.push(`${what} in the logs`);
      if (cmdlines.some((c) => c.includes(value))) exposed.push(`${what} in a process command line`);
      if (what !== 'session password' && bodies.some((b) => b.includes(value))) exposed.push(`${what} in an answer`);
    }
    assert.deepEqual(exposed, []);
  });

  test('Proxmox credentials given in the environment are redacted if a component logs its config', () => {
    const { logger: log, lines } = captureLogs('info');
    const secret = 'b3f1c0de-0000-4a4a-9999-5ec12e7ab1e5';
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkeymaterial\n-----END OPENSSH PRIVATE KEY-----';
    log.info({ proxmox: { tokenSecret: secret, sshPrivateKey: key } }, 'config');
    log.info({ config: { proxmox: { tokenSecret: secret } } }, 'nested config');
    log.info({ spec: { password: 'hunter2hunter2' } }, 'spec');
    const text = lines.join('');
    assert.ok(!text.includes(secret), 'token secret redacted');
    assert.ok(!text.includes('secretkeymaterial'), 'ssh key redacted');
    assert.ok(!text.includes('hunter2hunter2'), 'password redacted');
  });
});
