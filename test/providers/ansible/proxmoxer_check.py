"""Drives the simulator with Debian's python3-proxmoxer (a client nobody here
wrote) and checks the behaviour Winux relies on. Prints one line per check and
exits non-zero on the first mismatch. Auth: API token, or a ticket when
PX_AUTH=password (proxmoxer then POSTs /access/ticket and sends CSRF tokens)."""
import os
import sys
import time

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

e = os.environ
os.environ['REQUESTS_CA_BUNDLE'] = e['proxmox_api_ca_file']
host = '%s:%s' % (e['proxmox_api_host'], e['proxmox_api_port'])
if e.get('PX_AUTH') == 'password':
    px = ProxmoxAPI(host, user='root@pam', password=e['PX_PASSWORD'], verify_ssl=True)
else:
    px = ProxmoxAPI(host, user=e['proxmox_api_user'], token_name=e['proxmox_api_token_id'],
                    token_value=e['proxmox_api_token_secret'], verify_ssl=True)
node = 'pve1'


def check(name, cond, detail=''):
    print(('ok   ' if cond else 'FAIL ') + name + ((' -- ' + str(detail)) if detail else ''))
    if not cond:
        sys.exit(1)


def wait(upid, timeout=20):
    parts = upid.split(':')
    check('UPID format', upid.startswith('UPID:') and upid.endswith(':') and len(parts) == 9 and len(parts[2]) == 8, upid)
    end = time.time() + timeout
    while time.time() < end:
        st = px.nodes(parts[1]).tasks(upid).status.get()
        if st['status'] == 'stopped':
            return st
        time.sleep(0.05)
    raise RuntimeError('task timeout ' + upid)


check('version', px.version.get()['version'].startswith('8.'))
nodes = px.nodes.get()
check('nodes have memory figures', all('maxmem' in n and 'mem' in n for n in nodes), nodes)
res = px.cluster.resources.get(type='vm')
tpl = [r for r in res if r.get('template') == 1 and 'winux-template' in r.get('tags', '').split(';')]
check('template visible with its tag', len(tpl) >= 1, res)
tid = tpl[0]['vmid']

upid = px.nodes(node).lxc(tid).clone.post(newid=31001, hostname='px-one', full=0, pool='winux')
try:
    px.nodes(node).lxc(tid).clone.post(newid=31002, hostname='px-two', full=0)
    check('second clone during the first is refused', False)
except ResourceException as ex:
    check('second clone during the first is refused', ex.status_code == 500 and 'CT is locked (disk)' in str(ex), ex)
st = wait(upid)
check('clone task OK', st['exitstatus'] == 'OK', st)
check('task polled on the UPID node, with tokenid when a token started it',
      st['node'] == node and (e.get('PX_AUTH') == 'password' or st.get('tokenid') == e['proxmox_api_token_id']), st)

try:
    px.nodes(node).lxc(tid).clone.post(newid=31001, hostname='dup', full=0)
    check('duplicate vmid refused', False)
except ResourceException as ex:
    check('duplicate vmid refused', "CT 31001 already exists on node 'pve1'" in str(ex), ex)

px.nodes(node).lxc(31001).config.put(tags='Winux,winux-session-abc;winux')
cfg = px.nodes(node).lxc(31001).config.get()
check('tags lowercased, deduplicated, sorted, joined with ;', cfg['tags'] == 'winux;winux-session-abc', cfg.get('tags'))
check('config has a digest', len(cfg.get('digest', '')) == 40)

check('interfaces null while stopped', px.nodes(node).lxc(31001).interfaces.get() is None)
try:
    px.nodes(node).lxc(31001).status.stop.post()
    check('stop while stopped refused', False)
except ResourceException as ex:
    check('stop while stopped refused', 'CT 31001 not running' in str(ex), ex)

st = wait(px.nodes(node).lxc(31001).status.start.post())
check('start task OK', st['exitstatus'] == 'OK' and st['type'] == 'vzstart', st)
ifs = px.nodes(node).lxc(31001).interfaces.get()
eth0 = [i for i in ifs if i['name'] == 'eth0'][0]
check('right after start: lo + link-local only', 'inet' not in eth0 and eth0['inet6'].startswith('fe80:'), ifs)
end = time.time() + 10
while 'inet' not in eth0 and time.time() < end:
    time.sleep(0.05)
    eth0 = [i for i in px.nodes(node).lxc(31001).interfaces.get() if i['name'] == 'eth0'][0]
check('DHCP address appears later, on loopback', eth0.get('inet', '').startswith('127.'), eth0)

# Per-CT firewall (pve-firewall Rules.pm): POST puts a rule first, a rule without
# `enable` is stored disabled, options take booleans and policies.
fw = px.nodes(node).lxc(31001).firewall
fw.rules.post(type='out', action='DROP', dest='10.0.0.0/8', enable=1, comment='bottom')
fw.rules.post(type='in', action='ACCEPT', proto='tcp', dport='3389', comment='top')
rules = fw.rules.get()
check('firewall: a new rule goes first', [r['comment'] for r in rules] == ['top', 'bottom'] and [r['pos'] for r in rules] == [0, 1], rules)
check('firewall: a rule posted without enable is disabled', rules[0]['enable'] == 0 and rules[1]['enable'] == 1, rules)
try:
    fw.rules.post(type='in', action='ACCEPT', dport='22')
    check('firewall: a port without a protocol is refused', False)
except ResourceException as ex:
    check('firewall: a port without a protocol is refused', ex.status_code == 400, ex)
fw.options.put(enable=1, policy_in='DROP', dhcp=1)
opts = fw.options.get()
check('firewall: options stored', opts.get('enable') == 1 and opts.get('policy_in') == 'DROP' and opts.get('dhcp') == 1, opts)
try:
    fw.options.put(policy_in='MAYBE')
    check('firewall: a bad policy is refused', False)
except ResourceException as ex:
    check('firewall: a bad policy is refused', ex.status_code == 400, ex)
check('firewall: datacenter switch readable', 'enable' in px.cluster.firewall.options.get())

try:
    px.nodes(node).lxc(31001).delete()
    check('delete while running refused', False)
except ResourceException as ex:
    check('delete while running refused', 'unable to destroy CT 31001 - container is running' in str(ex), ex)
try:
    px.nodes('pve1').lxc(424242).status.current.get()
    check('unknown CT', False)
except ResourceException as ex:
    check('unknown CT', "Configuration file 'nodes/pve1/lxc/424242.conf' does not exist" in str(ex), ex)

st = wait(px.nodes(node).lxc(31001).delete(force=1, purge=1))
check('delete with force while running', st['exitstatus'] == 'OK', st)
check('gone from cluster resources', all(r['vmid'] != 31001 for r in px.cluster.resources.get(type='vm')))
try:
    px.nodes(node).lxc(31001).firewall.rules.get()
    check('firewall rules gone with the CT', False)
except ResourceException as ex:
    check('firewall rules gone with the CT', 'does not exist' in str(ex), ex)
try:
    px.cluster.nextid.get(vmid=tid)
    check('nextid on a used id', False)
except ResourceException as ex:
    check('nextid on a used id is a 400', ex.status_code == 400, ex)
print('ALL OK')
