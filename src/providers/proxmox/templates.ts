// Which CT template to clone on each node: the one named by WINUX_PROXMOX_TEMPLATE
// (vmid or hostname), else the CT templates tagged `winux-template`. With local
// storage a linked clone must stay on its template's node, so each node needs
// its own template (distinct vmids).
import { tagsOf, type VmResource } from './cluster-view.ts';
import { templateTag } from './naming.ts';

export function templatesByNode(vms: VmResource[], configured?: string): Map<string, number> {
  const out = new Map<string, number>();
  const matches = vms.filter(
    (v) =>
      v.type === 'lxc' && Number(v.template) === 1 && (configured ? String(v.vmid) === configured || v.name === configured : tagsOf(v).includes(templateTag)),
  );
  // The newest push (highest vmid) wins when a node has several.
  for (const v of matches.sort((a, b) => a.vmid - b.vmid)) out.set(v.node, v.vmid);
  return out;
}
