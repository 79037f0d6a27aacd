// Bar charts as inline SVG (no library, no CDN): one bar per day, the value on
// top, the day below; each chart has a text alternative for screen readers.
import { esc } from '../shared/dom.ts';

export interface Series {
  label: string;
  values: (number | null)[];
  /** Draw the bars in the warning colour. */
  bad?: boolean;
}

const width = 280;
const height = 120;
const bottom = 16;
const top = 12;

export function barChart(days: string[], series: Series[]): string {
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = Math.max(1, ...all);
  const slot = width / Math.max(1, days.length);
  const barW = Math.max(2, (slot - 4) / series.length);
  const bars: string[] = [];
  // Past a week the labels would overlap: values only on non-zero bars, one day label in `every`.
  const crowded = days.length > 10;
  const every = Math.ceil(days.length / 7);
  days.forEach((day, i) => {
    series.forEach((s, k) => {
      const v = s.values[i];
      if (v === null || v === undefined) return;
      const h = ((height - bottom - top) * v) / max;
      const x = i * slot + 2 + k * barW;
      const y = height - bottom - h;
      bars.push(
        `<rect class="bar${s.bad ? ' bad' : ''}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${esc(`${day} · ${s.label}: ${v}`)}</title></rect>`,
      );
      if (!crowded || v > 0) bars.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y - 2).toFixed(1)}" text-anchor="middle">${esc(round(v))}</text>`);
    });
    // The last day (today) always has its label; the others count back from it.
    if ((days.length - 1 - i) % every === 0)
      bars.push(`<text x="${(i * slot + slot / 2).toFixed(1)}" y="${height - 3}" text-anchor="middle">${esc(day.slice(5))}</text>`);
  });
  const summary = series.map((s) => `${s.label}: ${s.values.map((v, i) => `${days[i]} ${v ?? '–'}`).join(', ')}`).join('; ');
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(summary)}">${bars.join('')}</svg>`;
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
