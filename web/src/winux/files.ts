// The owner's files panel in the desktop view: send files into the desktop's
// ~/Téléchargements (~/Downloads) by picking them or dropping them on the panel
// or on the desktop itself, with a progress bar; list ~/Partage (~/Share) and
// download a file or the whole folder as a zip. Uploads are the raw file as the
// body (XMLHttpRequest: fetch has no upload progress), one at a time.
import { esc, say } from '../shared/dom.ts';
import { t } from './i18n/index.ts';
import { API, api } from './state.ts';

interface SharedFile {
  name: string;
  size: number;
  modified_at: string;
}

export interface FilesPanel {
  panel: HTMLElement;
  /** Accepts files dropped on `target` too (the desktop). */
  acceptDrops(target: HTMLElement): void;
  relabel(): void;
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 ** 2).toFixed(1)} MB`);

/** One upload; resolves with the name the desktop gave, rejects with the server's message. */
function upload(url: string, file: File, onProgress: (sent: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${url}?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('X-Requested-With', 'winux');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let body: { name?: string; message?: string } = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status === 201 && body.name) resolve(body.name);
      else reject(new Error(body.message || t('files.failed')));
    };
    xhr.onerror = () => reject(new Error(t('files.failed')));
    xhr.send(file);
  });
}

export function createFilesPanel(sessionId: string): FilesPanel {
  const base = `sessions/${encodeURIComponent(sessionId)}/files`;
  let files: SharedFile[] = [];
  let status = '';
  let error = '';
  const queue: File[] = [];
  let busy = false;
  const panel = document.createElement('div');
  panel.className = 'dt-panel dt-files';
  panel.id = 'dt-files-panel';
  panel.hidden = true;
  panel.innerHTML = `<h2 id="files-title"></h2><p class="small muted" id="files-hint"></p>
<label class="secondary small files-pick"><span id="files-pick-label"></span><input type="file" id="files-input" multiple hidden></label>
<progress id="files-progress" max="1" value="0" hidden></progress>
<p class="small" id="files-status" role="status"></p>
<p class="small error-text" id="files-error" role="alert" hidden></p>
<h3 class="small" id="files-share-title"></h3>
<ul class="share-list" id="files-list" aria-labelledby="files-share-title"></ul>
<a class="small" id="files-zip" download></a>`;
  const q = <T extends HTMLElement = HTMLElement>(sel: string) => panel.querySelector(sel) as T;

  const render = () => {
    q('#files-title').textContent = t('files.title');
    q('#files-hint').textContent = t('files.hint');
    q('#files-pick-label').textContent = t('files.pick');
    q('#files-share-title').textContent = t('files.shared');
    q('#files-status').textContent = status;
    q('#files-error').hidden = !error;
    q('#files-error').textContent = error;
    q('#files-list').innerHTML = files.length
      ? files
          .map(
            (f) =>
              `<li><a href="${esc(`${API}${base}/${encodeURIComponent(f.name)}`)}" download="${esc(f.name)}" translate="no">${esc(f.name)}</a> <span class="small muted">${esc(size(f.size))}</span></li>`,
          )
          .join('')
      : `<li class="small muted">${esc(t('files.none'))}</li>`;
    const zip = q<HTMLAnchorElement>('#files-zip');
    zip.hidden = files.length === 0;
    zip.href = `${API}sessions/${encodeURIComponent(sessionId)}/files.zip`;
    zip.textContent = t('files.zip');
  };

  const refresh = async () => {
    try {
      const r = await api<{ files?: SharedFile[] }>('GET', base);
      files = Array.isArray(r.files) ? r.files : [];
    } catch {
      files = [];
    }
    render();
  };

  const next = async () => {
    if (busy) return;
    const file = queue.shift();
    if (!file) return;
    busy = true;
    const bar = q<HTMLProgressElement>('#files-progress');
    bar.hidden = false;
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    error = '';
    status = t('files.sending', file.name);
    render();
    try {
      const given = await upload(`${API}${base}`, file, (sent) => {
        bar.value = sent;
      });
      bar.value = bar.max;
      status = t('files.sent', given);
      say(status);
    } catch (e) {
      status = '';
      error = `${file.name}: ${(e as Error).message}`;
    } finally {
      busy = false;
      bar.hidden = queue.length === 0;
      render();
      next();
    }
  };
  const send = (list: FileList | null | undefined) => {
    if (!list?.length) return;
    queue.push(...Array.from(list));
    panel.hidden = false;
    next();
  };

  q<HTMLInputElement>('#files-input').addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement;
    send(input.files);
    input.value = '';
  });
  const acceptDrops = (target: HTMLElement) => {
    target.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    target.addEventListener('drop', (e) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      send(e.dataTransfer.files);
    });
  };
  acceptDrops(panel);

  // The list is read when the panel opens (the visitor may have saved files since).
  new MutationObserver(() => {
    if (!panel.hidden) refresh();
  }).observe(panel, { attributes: true, attributeFilter: ['hidden'] });

  render();
  return { panel, acceptDrops, relabel: render };
}
