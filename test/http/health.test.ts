// What /health says about the provider: a check that never answers fails, it does not hang.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { providerHealth } from '../../src/http/health.ts';
import { DownProvider, FakeProvider } from '../support/fake-provider.ts';
import { startTestServer } from '../support/server.ts';

test('a provider check that never answers is reported failing after the timeout', async () => {
  const silent = new FakeProvider();
  silent.check = () => new Promise(() => {});
  // The timeout's timer does not hold the process open (unref): this one does, for the test.
  const alive = setTimeout(() => {}, 5_000);
  const check = await providerHealth(silent, 50)();
  clearTimeout(alive);
  assert.deepEqual(check, { ok: false, detail: 'check failed: no answer within 0.05 s' });
});

describe('/health tells anyone the status, and only the admin the details (issue 14, item 7)', () => {
  /** A provider whose checks name hosts, users and versions, as Proxmox's do; one cannot tell. */
  class TalkativeProvider extends FakeProvider {
    override async check() {
      return [
        { name: 'proxmox-api', ok: true, detail: 'Proxmox VE 8.2.4 at https://pve.internal.example:8006' },
        { name: 'proxmox-ssh', ok: true, detail: 'SSH to root@10.1.2.3:22 works' },
        { name: 'proxmox-permissions', ok: false, unknown: true, detail: "cannot read the token's permissions for winux@pve!api: 500" },
      ];
    }
  }

  test('public: status and check codes only; admin: every detail; an unknown check is not a 503', async () => {
    const s = await startTestServer({ provider: new TalkativeProvider() });
    try {
      const pub = await s.request('GET', '/api/winux/health');
      assert.equal(pub.status, 200, 'a check that cannot tell does not make /health a 503 by itself');
      assert.deepEqual(pub.body, {
        status: 'ok',
        checks: [
          { name: 'store', status: 'ok' },
          { name: 'proxmox-api', status: 'ok' },
          { name: 'proxmox-ssh', status: 'ok' },
          { name: 'proxmox-permissions', status: 'unknown' },
        ],
      });
      const text = JSON.stringify(pub.body);
      for (const leak of ['pve.internal', '8.2.4', 'root@', '10.1.2.3', 'winux@pve', 'version', 'capacity', s.provider.name]) {
        assert.ok(!text.includes(leak), `public answer leaks ${leak}`);
      }
      const admin = await s.request('GET', '/api/winux/health', { token: s.adminToken });
      assert.equal(admin.status, 200);
      assert.equal(admin.body.provider.ok, true);
      assert.match(admin.body.provider.detail, /could not tell: proxmox-permissions/);
      assert.deepEqual(
        admin.body.provider.checks.map((c: { status: string }) => c.status),
        ['ok', 'ok', 'unknown'],
      );
      assert.match(JSON.stringify(admin.body), /root@10\.1\.2\.3/);
      assert.equal(typeof admin.body.version, 'string');
      assert.ok(admin.body.capacity);
      // A session token is not the admin token.
      const created = await s.request('POST', '/api/winux/sessions');
      const owner = await s.request('GET', '/api/winux/health', { token: created.body.token });
      assert.deepEqual(Object.keys(owner.body).sort(), ['checks', 'status']);
    } finally {
      await s.close();
    }
  });

  test('a failing check still makes /health a 503, publicly without its detail', async () => {
    const s = await startTestServer({ provider: new DownProvider() });
    try {
      const pub = await s.request('GET', '/api/winux/health');
      assert.equal(pub.status, 503);
      assert.equal(pub.body.status, 'degraded');
      assert.ok(pub.body.checks.some((c: { status: string }) => c.status === 'failing'));
      assert.deepEqual(Object.keys(pub.body).sort(), ['checks', 'status']);
    } finally {
      await s.close();
    }
  });
});
