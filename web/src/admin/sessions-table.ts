// The live session list: sorted and filtered over the whole set the server
// sends (never one page), with the actions of each row.
import { esc } from '../shared/dom.ts';
import { bytes, duration } from './format.ts';
import { t } from './i18n/index.ts';
import type { AdminSession } from './types.ts';

type Column = 'session_id' | 'status' | 'address' | 'age_seconds' | 'remaining_seconds' | 'cpu_percent' | 'memory_bytes' | 'node' | 'container_id';
const columns: [Column, Parameters<typeof t>[0]][] = [
  ['session_id', 'col.session'],
  ['status', 'col.status'],
  ['address', 'col.address'],
  ['age_seconds', 'col.age'],
  ['remaining_seconds', 'col.left'],
  ['cpu_percent', 'col.cpu'],
  ['memory_bytes', 'col.memory'],
  ['node', 'col.node'],
  ['container_id', 'col.container'],
];

export interface TableState {
  sort: Column;
  descending: boolean;
  filter: string;
  status: string;
}

export const tableState: TableState = { sort: 'age_seconds', descending: false, filter: '', status: '' };

export function visible(all: AdminSession[], s: TableState): AdminSession[] {
  const needle = s.filter.trim().toLowerCase();
  const rows = all.filter((r) => {
    if (s.status === 'expired' && !r.expired) return false;
    if (s.status === 'pool' && !r.pooled) return false;
    if (s.status && !['expired', 'pool'].includes(s.status) && r.status !== s.status) return false;
    if (!needle) return true;
    return [r.session_id, r.address ?? '', r.node ?? '', String(r.container_id), r.status, r.step].some((v) => v.toLowerCase().includes(needle));
  });
  const key = s.sort;
  // A figure not sampled yet sorts below every figure.
  const blank = key === 'cpu_percent' || key === 'memory_bytes' ? -1 : '';
  rows.sort((a, b) => {
    const x = a[key] ?? blank;
    const y = b[key] ?? blank;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return s.descending ? -c : c;
  });
  return rows;
}

export function renderHead(s: TableState): string {
  const cells = columns.map(([key, label]) => {
    const sorted = s.sort === key ? (s.descending ? 'descending' : 'ascending') : 'none';
    const arrow = sorted === 'ascending' ? ' ▲' : sorted === 'descending' ? ' ▼' : '';
    return `<th aria-sort="${sorted}"><button type="button" data-sort="${key}">${esc(t(label))}${arrow}</button></th>`;
  });
  return `${cells.join('')}<th>${esc(t('actions'))}</th>`;
}

export function renderRows(rows: AdminSession[]): string {
  if (!rows.length) return `<tr><td colspan="${columns.length + 1}" class="muted">${esc(t('sessions.none'))}</td></tr>`;
  return rows
    .map((r) => {
      const id = esc(r.session_id);
      const status = `<span class="status ${esc(r.status)}">${esc(r.status)}</span>${r.status === 'creating' ? ` <span class="muted">${esc(r.step)}</span>` : ''}${r.pooled ? ` <span class="muted">(${esc(t('pool'))})</span>` : ''}`;
      const left = `<span class="${r.expired ? 'expired' : ''}">${r.pooled ? '–' : duration(r.remaining_seconds)}</span>`;
      const running = r.status !== 'destroying';
      const look =
        r.status === 'ready'
          ? `<a class="button small" href="../view/?session=${encodeURIComponent(r.session_id)}" aria-label="${esc(t('lookLabel', r.session_id))}">${esc(t('look'))}</a>`
          : '';
      const acts = running
        ? `<button type="button" class="small" data-act="extend" data-id="${id}" aria-label="${esc(t('extendLabel', r.session_id))}"${r.pooled ? ' disabled' : ''}>${esc(t('extend'))}</button>` +
          `<button type="button" class="small danger-ghost" data-act="end" data-id="${id}" aria-label="${esc(t('endLabel', r.session_id))}">${esc(t('end'))}</button>${look}`
        : '';
      return `<tr data-session="${id}"><td class="mono">${id}</td><td>${status}</td><td class="mono">${esc(r.address ?? '–')}</td><td>${duration(r.age_seconds)}</td><td>${left}</td><td class="num">${r.cpu_percent === null ? '–' : `${r.cpu_percent.toFixed(1)} %`}</td><td class="num">${r.memory_bytes === null ? '–' : bytes(r.memory_bytes)}</td><td>${esc(r.node ?? '–')}</td><td>${r.container_id}</td><td class="acts">${acts}</td></tr>`;
    })
    .join('');
}
