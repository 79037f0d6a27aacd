// The banner above the views: capacity, limits, errors, the server being unreachable.
import { $, say } from '../shared/dom.ts';
import { state, type Banner } from './state.ts';

export function showBanner(spec: Banner): void {
  state.banner = spec;
  renderBanner();
  if (spec.announce !== false) say(`${spec.title()} ${spec.body()}`, spec.cls === 'error');
}

/** Hides the banner (only if it is the one named `key`, when given). */
export function hideBanner(key?: string): void {
  if (!state.banner || (key && state.banner.key !== key)) return;
  state.banner = null;
  renderBanner();
}

export function renderBanner(): void {
  const { banner } = state;
  const el = $('banner');
  el.hidden = !banner;
  if (!banner) return;
  el.className = `banner ${banner.cls}`;
  el.setAttribute('role', banner.cls === 'error' ? 'alert' : 'status');
  $('banner-title').textContent = banner.title();
  $('banner-body').textContent = banner.body();
  const btn = $('banner-action');
  btn.hidden = !banner.action;
  if (banner.action) btn.textContent = banner.action.label();
}
