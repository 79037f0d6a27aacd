// The console's other panels: summary, capacity and host, warm pool, abuse and
// blocks, failures, usage charts, the latest audit rows.
import { esc } from '../shared/dom.ts';
import { barChart } from './charts.ts';
import { bytes, duration, when } from './format.ts';
import { t } from './i18n/index.ts';
import type { AdminSession, AuditEntry, Capacity, NodeFigures, Overview, RebuildState, TemplatePanel } from './types.ts';

export function summary(sessions: AdminSession[], c: Capacity): string {
  const n = (status: string) => sessions.filter((s) => s.status === status).length;
  const cell = (label: string, value: string | number) => `<div><span class="muted small">${esc(label)}</span><strong>${esc(value)}</strong></div>`;
  return [
    cell(t('summary.inUse'), `${c.in_use} / ${c.max}`),
    cell(t('summary.free'), c.free),
    cell(t('summary.ready'), n('ready')),
    cell(t('summary.creating'), n('creating')),
  ].join('');
}

export function capacity(o: Overview): string {
  const h = o.host;
  const row = (k: string, v: string) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`;
  return [
    row(t('cap.sessions'), `${o.capacity.in_use} / ${o.capacity.max}`),
    row(t('cap.provider'), o.provider),
    row(t('cap.host'), `${h.name} (${h.cpus} CPU)`),
    row(t('cap.memory'), `${bytes(h.memory_free_bytes)} / ${bytes(h.memory_total_bytes)}`),
    h.disk ? row(t('cap.disk'), `${bytes(h.disk.free_bytes)} / ${bytes(h.disk.total_bytes)}`) : '',
    row(t('cap.load'), h.load.map((l) => l.toFixed(2)).join(' · ')),
  ].join('');
}

const used = (u: number | null, total: number | null) => (u === null || total === null ? t('node.unknown') : `${bytes(u)} / ${bytes(total)}`);

/** Each host sessions run on (LXC: this one; Proxmox: each node). */
export function nodes(list: NodeFigures[]): string {
  return list
    .map((n) => {
      const load = !n.online
        ? t('node.offline')
        : n.load
          ? n.load.map((l) => l.toFixed(2)).join(' · ')
          : n.cpu_percent !== null
            ? t('node.cpu', n.cpu_percent.toFixed(1))
            : t('node.unknown');
      return `<tr data-node="${esc(n.node)}"><td class="mono">${esc(n.node)}${n.cpus ? ` <span class="muted">(${n.cpus} CPU)</span>` : ''}</td><td>${esc(used(n.memory_used_bytes, n.memory_total_bytes))}</td><td>${esc(used(n.disk_used_bytes, n.disk_total_bytes))}</td><td>${esc(load)}</td></tr>`;
    })
    .join('');
}

/** Which recipe is built where, how old, how big. */
export function template(p: TemplatePanel): string {
  const row = (k: string, v: string) => `<dt>${esc(k)}</dt><dd>${v}</dd>`;
  const rows = p.recipe_hash ? [row(t('template.recipe'), `<span class="mono" id="template-recipe">${esc(p.recipe_hash)}</span>`)] : [];
  if (!p.copies.length) rows.push(row(t('template.title'), esc(t('template.none'))));
  for (const c of p.copies) {
    const state =
      c.current === null ? '' : ` <span class="${c.current ? 'muted' : 'expired'}">(${esc(c.current ? t('template.current') : t('template.outdated'))})</span>`;
    const built = t(
      'template.built',
      c.hash ?? t('template.unknown'),
      c.age_seconds === null
        ? t('template.unknown')
        : c.age_seconds >= 2 * 86400
          ? t('template.days', Math.floor(c.age_seconds / 86400))
          : duration(c.age_seconds),
      c.archive_bytes === null ? t('template.unknown') : bytes(c.archive_bytes),
    );
    rows.push(row(t('template.copy', c.node, c.name), `<span data-hash="${esc(c.hash ?? '')}">${esc(built)}</span>${state}`));
  }
  return rows.join('');
}

export function rebuildState(r: RebuildState): string {
  if (r.running) return t('template.running', r.step ?? '…');
  if (r.outcome === 'failed') return t('template.failed', r.error ?? '');
  if (r.outcome === 'ok' && r.finished_at) return t('template.done', when(r.finished_at));
  return '';
}

export function rebuildLines(r: RebuildState): string {
  return r.lines.map((l) => `<li><span class="step">${esc(l.step)}</span>${l.detail ? ` ${esc(l.detail)}` : ''}</li>`).join('');
}

export function poolMembers(sessions: AdminSession[]): string {
  const members = sessions.filter((s) => s.pooled);
  if (!members.length) return `<li class="muted">${esc(t('pool.none'))}</li>`;
  return members.map((m) => `<li><span class="mono">${esc(m.session_id)}</span> <span class="status ${esc(m.status)}">${esc(m.status)}</span></li>`).join('');
}

export function clients(o: Overview): string {
  if (!o.abuse.clients.length) return `<tr><td colspan="4" class="muted">${esc(t('abuse.none'))}</td></tr>`;
  return o.abuse.clients
    .map(
      (c) =>
        `<tr><td class="mono">${esc(c.key)}</td><td>${c.sessions}</td><td>${c.refused}</td><td><button type="button" class="small" data-block="${esc(c.key)}">${esc(t('block.add'))}</button></td></tr>`,
    )
    .join('');
}

export function blocks(o: Overview): string {
  return o.abuse.blocks
    .map(
      (b) =>
        `<li><span class="mono">${esc(b.network)}</span> <span class="muted">${esc(b.expires_at ? t('block.until', when(b.expires_at)) : t('block.permanent'))}</span> <button type="button" class="small" data-unblock="${b.id}" aria-label="${esc(`${t('block.remove')} ${b.network}`)}">${esc(t('block.remove'))}</button></li>`,
    )
    .join('');
}

export function failures(o: Overview): string {
  const rows = o.failures.failed.map(
    (f) =>
      `<li><span class="mono">${esc(f.session_id)}</span> <span class="muted">${esc(when(f.at))} · ${esc(f.step)}</span> <span>${esc(f.error ?? '')}</span> <span class="muted">— ${esc(f.cleaned ? t('failures.cleaned') : t('failures.retrying', f.cleanup_attempts))}</span></li>`,
  );
  return rows.length ? rows.join('') : `<li class="muted">${esc(t('failures.none'))}</li>`;
}

export function charts(o: Overview): string {
  const d = o.usage.days;
  const days = d.map((x) => x.day);
  const fig = (caption: string, svg: string) => `<figure><figcaption>${esc(caption)}</figcaption>${svg}</figure>`;
  return [
    fig(t('usage.sessions'), barChart(days, [{ label: t('usage.sessions'), values: d.map((x) => x.sessions) }])),
    fig(t('usage.hours'), barChart(days, [{ label: t('usage.hours'), values: d.map((x) => x.desktop_hours) }])),
    fig(
      t('usage.ready'),
      barChart(days, [
        { label: 'p50', values: d.map((x) => x.median_ready_seconds) },
        { label: 'p95', values: d.map((x) => x.p95_ready_seconds), bad: true },
      ]),
    ),
    fig(t('usage.failures'), barChart(days, [{ label: t('usage.failures'), values: d.map((x) => x.failures), bad: true }])),
  ].join('');
}

export function audit(entries: AuditEntry[]): string {
  return entries
    .map(
      (e) =>
        `<tr><td>${esc(when(e.at))}</td><td>${esc(e.actor)}${e.address ? ` <span class="muted mono">${esc(e.address)}</span>` : ''}</td><td class="mono">${esc(e.action)}</td><td class="mono">${esc(e.session_id ?? '–')}</td><td>${esc(e.outcome)}</td></tr>`,
    )
    .join('');
}
