// Which CT template to clone on each node: the one named by WINUX_PROXMOX_TEMPLATE
// (vmid or hostname; XFCE's only), else the CT templates tagged with the
// desktop's tag (`winux-template` for XFCE, `winux-template-mate`…). With local
// storage a linked clone must stay on its template's node, so each node needs
// its own template (distinct vmids) of each desktop offered.
import { defaultDesktop, type DesktopName } from '../../core/desktops.ts';
import { tagsOf, type VmResource } from './cluster-view.ts';
import { templateTagFor } from './naming.ts';

export function templatesByNode(vms: VmResource[], configured?: string, desktop: DesktopName = defaultDesktop): Map<string, number> {
  const out = new Map<string, number>();
  const named = desktop === defaultDesktop ? configured : undefined;
  const tag = templateTagFor(desktop);
  const matches = vms.filter(
    (v) => v.type === 'lxc' && Number(v.template) === 1 && (named ? String(v.vmid) === named || v.name === named : tagsOf(v).includes(tag)),
  );
  // The newest push (highest vmid) wins when a node has several.
  for (const v of matches.sort((a, b) => a.vmid - b.vmid)) out.set(v.node, v.vmid);
  return out;
}
