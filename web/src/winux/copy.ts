// Copy buttons: the Clipboard API, or a selected textarea on plain-HTTP pages.
import { say } from '../shared/dom.ts';
import { t } from './i18n/index.ts';

const resets = new WeakMap<HTMLElement, ReturnType<typeof setTimeout>>();

export async function copyText(text: string, btn: HTMLElement, label: string): Promise<void> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // Plain-HTTP pages have no Clipboard API: fall back to a selected textarea.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'sr-only';
    document.body.append(ta);
    ta.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    btn.focus();
  }
  if (!ok) return say(t('copyFailed'), true);
  btn.textContent = `✓ ${t('copied')}`;
  btn.classList.add('copied');
  say(t('copiedSay', label));
  clearTimeout(resets.get(btn));
  resets.set(
    btn,
    setTimeout(() => {
      btn.textContent = t('copy');
      btn.classList.remove('copied');
    }, 2000),
  );
}
