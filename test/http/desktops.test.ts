// The choice of desktops through the API (fake provider): WINUX_DESKTOPS says
// which ones, "desktop" in POST /sessions picks one (anything else: a 400 that
// lists them and creates nothing), the session says which it runs, the provider
// is asked for that desktop's template, each desktop has its own warm-pool
// members, and the picture of each is served when its template build took one.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { CreateContext, CreateSpec, ProviderRef, SessionInfo } from '../../src/core/provider-port.ts';
import { encodePng } from '../../src/desktop/png.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { startTestServer, tempDir, waitFor } from '../support/server.ts';

const api = '/api/winux';

/** Remembers which desktop each creation asked for. */
class DesktopFake extends FakeProvider {
  asked = new Map<number, string | undefined>();
  override async create(spec: CreateSpec, ctx: CreateContext) {
    this.asked.set(spec.containerId, spec.desktop);
    return super.create(spec, ctx);
  }
}

/** A provider that switches a running desktop's language (as LXC and Proxmox do), and says what it was told. */
class LanguageFake extends FakeProvider {
  built = new Map<number, string | undefined>();
  told = new Map<number, string | undefined>();
  override async create(spec: CreateSpec, ctx: CreateContext) {
    this.built.set(spec.containerId, spec.language);
    return super.create(spec, ctx);
  }
  async setSessionInfo(ref: ProviderRef, _user: string, info: SessionInfo): Promise<void> {
    this.told.set(Number(ref.containerId), info.language);
  }
}

describe('desktops', () => {
  test('by default only XFCE is offered: a session without "desktop" runs it, any other is a 400 listing xfce', async () => {
    const fake = new DesktopFake();
    // A cache of its own: this machine's may hold real template pictures.
    const s = await startTestServer({ provider: fake, env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_CACHE_DIR: tempDir('winux-desktops-cache-') } });
    try {
      const list = await s.request('GET', `${api}/desktops`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { default: 'xfce', desktops: [{ name: 'xfce', label: 'XFCE', screenshot: null }] });
      const plain = await s.request('POST', `${api}/sessions`, { body: {} });
      assert.equal(plain.status, 202);
      assert.equal(plain.body.desktop, 'xfce');
      await waitFor(async () => fake.asked.has(plain.body.container_id), 5000, 'the provider asked');
      assert.equal(fake.asked.get(plain.body.container_id), 'xfce');
      const rows = (await s.store.list({})).length;
      const mate = await s.request('POST', `${api}/sessions`, { body: { desktop: 'mate' } });
      assert.equal(mate.status, 400);
      assert.equal(mate.body.error, 'unknown_desktop');
      assert.deepEqual(mate.body.desktops, ['xfce']);
      assert.match(mate.body.message, /xfce/);
      assert.equal((await s.store.list({})).length, rows, 'nothing was created');
    } finally {
      await s.close();
    }
  });

  test('with WINUX_DESKTOPS=xfce,mate,lxqt a visitor picks one; the session and the provider say which; a stranger name or type is refused', async () => {
    const fake = new DesktopFake();
    const s = await startTestServer({ provider: fake, env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_DESKTOPS: 'xfce,mate,lxqt' } });
    try {
      const info = await s.request('GET', `${api}/info`);
      assert.deepEqual(
        info.body.desktops.desktops.map((d: { name: string }) => d.name),
        ['xfce', 'mate', 'lxqt'],
      );
      const r = await s.request('POST', `${api}/sessions`, { body: { desktop: 'lxqt' } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.desktop, 'lxqt');
      await waitFor(async () => (await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token })).body.status === 'ready');
      const got = await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(got.body.desktop, 'lxqt');
      assert.equal(fake.asked.get(r.body.container_id), 'lxqt');
      const rows = (await s.store.list({})).length;
      for (const desktop of ['kde', 'gnome', 'XFCE', '../xfce', '']) {
        const bad = await s.request('POST', `${api}/sessions`, { body: { desktop } });
        assert.equal(bad.status, 400, desktop);
        assert.equal(bad.body.error, 'unknown_desktop');
        assert.deepEqual(bad.body.desktops, ['xfce', 'mate', 'lxqt']);
        assert.match(bad.body.message, /xfce, mate, lxqt/);
      }
      const typed = await s.request('POST', `${api}/sessions`, { body: { desktop: 7 } });
      assert.equal(typed.status, 400);
      assert.equal((await s.store.list({})).length, rows, 'no refused request created anything');
    } finally {
      await s.close();
    }
  });

  test("each desktop's picture is served once its template build took one; the others have none", async () => {
    const cache = tempDir('winux-desktops-cache-');
    mkdirSync(path.join(cache, 'screenshots'));
    const png = encodePng(2, 1, Buffer.from([255, 0, 0, 0, 0, 255]));
    writeFileSync(path.join(cache, 'screenshots', 'mate.png'), png);
    // A picture of a desktop this Winux does not offer is not served.
    writeFileSync(path.join(cache, 'screenshots', 'lxqt.png'), png);
    const s = await startTestServer({ env: { WINUX_DESKTOPS: 'xfce,mate', WINUX_CACHE_DIR: cache } });
    try {
      const list = await s.request('GET', `${api}/desktops`);
      assert.deepEqual(list.body.desktops, [
        { name: 'xfce', label: 'XFCE', screenshot: null },
        { name: 'mate', label: 'MATE', screenshot: `${api}/desktops/mate/screenshot.png` },
      ]);
      const shot = await fetch(`${s.url}${api}/desktops/mate/screenshot.png`);
      assert.equal(shot.status, 200);
      assert.equal(shot.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await shot.arrayBuffer()), png);
      for (const name of ['xfce', 'lxqt', 'kde']) assert.equal((await fetch(`${s.url}${api}/desktops/${name}/screenshot.png`)).status, 404, name);
      assert.equal((await fetch(`${s.url}${api}/desktops/..%2Fscreenshots%2Fmate/screenshot.png`)).status, 400);
    } finally {
      await s.close();
    }
  });

  test('the warm pool keeps members per desktop (WINUX_POOL_SIZES), and a click gets one of the desktop it asked for', async () => {
    const s = await startTestServer({
      env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_DESKTOPS: 'xfce,mate,lxqt', WINUX_POOL_SIZE: '1', WINUX_POOL_SIZES: 'mate:2' },
    });
    const ready = async (desktop: string) => (await s.store.list({ pooled: true, statuses: ['ready'], desktop: desktop as 'xfce' })).length;
    try {
      await waitFor(async () => (await ready('xfce')) === 1 && (await ready('mate')) === 2, 8000, 'pool filled per desktop');
      assert.equal(await ready('lxqt'), 0);
      const mate = await s.request('POST', `${api}/sessions`, { body: { desktop: 'mate' } });
      assert.equal(mate.body.status, 'ready', 'a ready MATE from the pool');
      assert.equal(mate.body.desktop, 'mate');
      const lxqt = await s.request('POST', `${api}/sessions`, { body: { desktop: 'lxqt' } });
      assert.equal(lxqt.body.status, 'creating', 'no LXQt member: a fresh one, not an XFCE spare');
      assert.equal(lxqt.body.desktop, 'lxqt');
      await waitFor(async () => (await ready('mate')) === 2, 8000, 'the MATE members refilled');
      assert.equal(await ready('xfce'), 1, 'the XFCE member untouched');
    } finally {
      await s.close();
    }
  });

  test('members in English too (xfce/en): an English click gets one, a French click a French one; with none left, a French member is switched and says so', async () => {
    const fake = new LanguageFake();
    const s = await startTestServer({ provider: fake, env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_POOL_SIZE: '1', WINUX_POOL_SIZES: 'xfce/en:1' } });
    const ready = async (language: 'fr' | 'en') => (await s.store.list({ pooled: true, statuses: ['ready'], language })).map((m) => m.id);
    const launch = async (language: 'fr' | 'en') => {
      const r = await s.request('POST', `${api}/sessions`, { body: { language } });
      assert.equal(r.body.status, 'ready', `a ${language} click is answered from the pool`);
      return (await s.store.get(r.body.session_id))!;
    };
    try {
      await waitFor(async () => (await ready('fr')).length === 1 && (await ready('en')).length === 1, 8000, 'a member in each language');
      const [enMember] = await ready('en');
      const en = await launch('en');
      assert.equal(en.id, enMember, 'the English member, not the French one');
      assert.equal(en.language, 'en');
      assert.equal(fake.built.get(en.containerId), 'en', 'it was built in English');
      const [frMember] = await ready('fr');
      const fr = await launch('fr');
      assert.equal(fr.id, frMember);
      assert.equal(fr.language, 'fr');
      // Both refilled; then the English one is taken, and the next English click gets the French spare, switched.
      await waitFor(async () => (await ready('fr')).length === 1 && (await ready('en')).length === 1, 8000, 'both refilled');
      await launch('en');
      const [spare] = await ready('fr');
      const switched = await launch('en');
      assert.equal(switched.id, spare, 'no English member left: the French one');
      assert.equal(switched.language, 'en', "its language is now the visitor's");
      assert.equal(fake.built.get(switched.containerId), 'fr', 'built in French');
      assert.equal(fake.told.get(switched.containerId), 'en', 'and switched at claim');
    } finally {
      await s.close();
    }
  });
});
