// The simulator checked by a client nobody here wrote: Debian's python3-proxmoxer,
// with token auth and with ticket auth (/access/ticket + CSRF).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';

const run = promisify(execFile);
// Debian's interpreter: that is where python3-proxmoxer is installed (a pyenv python would not see it).
const python = '/usr/bin/python3';
const script = path.join(import.meta.dirname, 'proxmoxer_check.py');

describe('python3-proxmoxer against the simulator', () => {
  let sim: ProxmoxSim;
  before(async () => {
    sim = await startProxmoxSim({ timings: { dhcpMs: 400 } });
  });
  after(async () => {
    await sim.close();
  });

  it('token auth: clone lock, tags, tasks, interfaces, errors', async () => {
    const { stdout } = await run(python, [script], { env: { ...process.env, ...sim.env() } }).catch((e) => {
      throw new Error(`${e.stdout}\n${e.stderr}`);
    });
    assert.match(stdout, /ALL OK/);
    assert.doesNotMatch(stdout, /FAIL/);
  });

  it('ticket auth with CSRF token', async () => {
    const { stdout } = await run(python, [script], { env: { ...process.env, ...sim.env(), PX_AUTH: 'password', PX_PASSWORD: sim.users['root@pam']! } }).catch(
      (e) => {
        throw new Error(`${e.stdout}\n${e.stderr}`);
      },
    );
    assert.match(stdout, /ALL OK/);
  });

  it('a wrong token is refused with 401', async () => {
    const r = await run(
      python,
      [
        '-c',
        [
          'import os',
          'from proxmoxer import ProxmoxAPI',
          "os.environ['REQUESTS_CA_BUNDLE']=os.environ['proxmox_api_ca_file']",
          "px=ProxmoxAPI(os.environ['proxmox_api_host']+':'+os.environ['proxmox_api_port'], user='root@pam', token_name='winux', token_value='00000000-0000-0000-0000-000000000000', verify_ssl=True)",
          'px.version.get()',
        ].join('\n'),
      ],
      { env: { ...process.env, ...sim.env() } },
    ).then(
      () => 'passed',
      (e) => String(e.stderr),
    );
    assert.match(r, /401 Unauthorized: invalid token value!/);
  });
});
