// The Winux page: one visitor, one temporary desktop, driven by /api/winux.
// No framework and no build step. The session token lives in an HttpOnly cookie
// the page never sees; the page only remembers the last session id (not secret)
// to say "your session ended" after a reload.

const API = new URL('../api/winux/', import.meta.url).pathname;
const STEPS = ['queued', 'allocating', 'cloning', 'starting', 'network', 'desktop'];
const WARN_AT = 300;
const DANGER_AT = 60;
const RESYNC_MS = 30_000;
const POLL_MS = 1000;
const FAST_POLL_MS = 500; // the first seconds of a creation, when a warm desktop may be ready at once
const SAFETY_POLL_MS = 5000; // while the server's event stream reports changes as they happen
const LEVELS = { ok: 0, warn: 1, danger: 2 };

// ---------------------------------------------------------------- strings
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const hp = (s) => (String(s.host).includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);
const dur = (min, l) => (min % 60 === 0 && min >= 60 ? `${min / 60} h` : min > 60 ? `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')}` : `${min} min`);

const STR = {
  fr: {
    skip: 'Aller au contenu', loading: 'Chargement…', langName: 'EN', langLabel: 'Switch to English', langOther: 'en',
    title: 'Winux — un bureau Linux en un clic',
    'idle.eyebrow': 'Bureau Linux temporaire',
    'idle.title': 'Un bureau Linux, tout de suite.',
    'idle.lead': "Un bureau XFCE complet dans son propre conteneur isolé, accessible depuis n'importe quel client RDP. Il est effacé à la fin de la session : rien ne reste.",
    launch: 'Lancer une session Winux', again: 'Lancer une nouvelle session',
    'fact.duration': (m, max) => `Session de ${dur(m)}, prolongeable jusqu'à ${dur(max)}`,
    'fact.ready': (s) => `Prêt en ${s < 90 ? `~${s} s` : `~${Math.round(s / 60)} min`}`,
    'fact.free': (n) => (n === 1 ? '1 bureau libre' : `${n} bureaux libres`),
    'fact.full': (t) => (t ? `Tous occupés · un bureau se libère vers ${t}` : 'Tous les bureaux sont occupés'),
    'creating.title': 'Préparation de votre bureau…',
    'step.queued': "En file d'attente", 'step.allocating': "Réservation d'un conteneur", 'step.cloning': 'Copie du bureau modèle',
    'step.starting': 'Démarrage du conteneur', 'step.network': 'Connexion au réseau', 'step.desktop': 'Démarrage du bureau XFCE et du serveur RDP',
    'est.left': (s) => `Encore environ ${s} s`, 'est.almost': 'Presque prêt…',
    'est.slow': "C'est plus long que d'habitude, la préparation continue…",
    'how1.t': 'Lancez', 'how1.d': 'Un conteneur neuf est préparé pour vous.',
    'how2.t': 'Connectez-vous', 'how2.d': 'Avec le client Bureau à distance (RDP) de votre ordinateur ou téléphone.',
    'how3.t': 'Tout est effacé', 'how3.d': 'À la fin du temps, le bureau et ses fichiers sont supprimés.',
    'pill.ok': 'En ligne', 'pill.warn': 'Bientôt terminé', 'pill.danger': 'Fin imminente', 'ready.title': 'Votre bureau est prêt',
    'creds.title': 'Informations de connexion', host: 'Adresse', port: 'Port', username: 'Utilisateur', password: 'Mot de passe',
    copy: 'Copier', copied: 'Copié', copyLabel: (l) => `Copier : ${l}`, copiedSay: (l) => `${l} : copié dans le presse-papiers.`,
    copyFailed: 'Copie impossible : sélectionnez le texte et copiez-le à la main.',
    rdp: 'Télécharger le fichier .rdp',
    'timer.title': 'Temps restant', until: (t) => `Jusqu'à ${t}`,
    'warn.warn': "Moins de 5 minutes : pensez à enregistrer votre travail ailleurs.",
    'warn.danger': "Moins d'une minute : le bureau va être supprimé.",
    minutesLeft: (m) => (m <= 1 ? 'Moins d’une minute restante.' : `${m} minutes restantes.`),
    'notify.warn': 'Winux : plus que 5 minutes', 'notify.danger': 'Winux : moins d’une minute',
    'notifyBody.warn': 'Votre bureau temporaire sera supprimé dans 5 minutes.',
    'notifyBody.danger': 'Votre bureau temporaire va être supprimé.',
    notify: "M'avertir par une notification avant la fin", notifyOn: 'Notifications activées : vous serez averti à 5 min et à 1 min.',
    notifyDenied: 'Notifications refusées par le navigateur.',
    extend: (m) => `Prolonger de ${m} min`, extendPlain: 'Prolonger',
    extended: (t) => `Session prolongée jusqu'à ${t}.`,
    extendLimit: 'Durée maximale atteinte : la session ne peut plus être prolongée.',
    end: 'Terminer ma session',
    'confirm.title': 'Terminer la session ?',
    'confirm.body': 'Le bureau et tous ses fichiers seront supprimés définitivement. Les connexions RDP ouvertes seront coupées.',
    'confirm.cancel': 'Garder ma session', 'confirm.ok': 'Terminer et supprimer',
    'howto.title': 'Se connecter',
    'os.windows': 'Windows', 'os.mac': 'macOS', 'os.linux': 'Linux', 'os.mobile': 'Android / iOS',
    'howto.windows': (a) => `<ol><li>Téléchargez le <strong>fichier .rdp</strong> et ouvrez-le : Connexion Bureau à distance démarre.</li>
<li>Ou bien : <kbd>Win</kbd> + <kbd>R</kbd>, tapez <code>mstsc</code>, puis l'adresse <code>${a}</code>.</li>
<li>Saisissez l'utilisateur et le mot de passe ci-dessus. Acceptez l'avertissement de certificat : il est propre à ce bureau temporaire.</li></ol>`,
    'howto.mac': (a) => `<ol><li>Installez <strong>Windows App</strong> (anciennement Microsoft Remote Desktop) depuis l'App Store.</li>
<li>Ouvrez le fichier .rdp téléchargé, ou ajoutez un PC avec l'adresse <code>${a}</code>.</li>
<li>Saisissez l'utilisateur et le mot de passe, puis choisissez <strong>Continuer</strong> à l'avertissement de certificat.</li></ol>`,
    'howto.linux': (a) => `<ol><li>Avec <strong>Remmina</strong> : nouvelle connexion <strong>RDP</strong>, serveur <code>${a}</code>, puis l'utilisateur et le mot de passe.</li>
<li>Ou en ligne de commande avec FreeRDP (<code>xfreerdp3</code> pour FreeRDP 3) :</li></ol>`,
    'howto.mobile': (a) => `<ol><li>Installez <strong>Windows App</strong> (App Store ou Google Play).</li>
<li>Ajoutez un PC : <code>${a}</code>, avec l'utilisateur et le mot de passe ci-dessus.</li>
<li>Un clavier et une souris Bluetooth rendent le bureau bien plus confortable.</li></ol>`,
    'ended.user': 'Session terminée', 'endedBody.user': 'Votre bureau et ses fichiers ont été supprimés. Merci d’avoir essayé Winux !',
    'ended.expired': 'Votre session a expiré', 'endedBody.expired': 'Le temps est écoulé : le bureau et ses fichiers ont été supprimés.',
    'ended.failed': "Le bureau n'a pas pu démarrer", 'endedBody.failed': 'La préparation a échoué et rien n’a été conservé. Vous pouvez réessayer.',
    'ended.gone': 'Session introuvable', 'endedBody.gone': "Cette session n'existe plus sur le serveur.",
    'ended.cleanup': 'Suppression du bureau en cours…', errorDetail: (m) => `Détail : ${m}`,
    'capacity.title': 'Tous les bureaux sont occupés.',
    'capacity.when': (t, m) => `Un bureau devrait se libérer vers ${t}${m > 0 ? ` (dans ${m} min)` : ''}. Réessayez à ce moment-là.`,
    'capacity.soon': 'Réessayez dans quelques minutes.',
    'visitor.title': 'Vous avez déjà une session en cours.',
    'visitor.body': 'Une seule session à la fois : terminez l’autre (peut-être dans un autre navigateur) ou attendez qu’elle expire.',
    'rate.title': 'Trop de demandes depuis votre adresse.', 'rate.body': (s) => (s > 0 ? `Réessayez dans ${s} s.` : 'Vous pouvez réessayer.'),
    'offline.title': 'Serveur injoignable.', 'offline.body': (s) => (s > 0 ? `Nouvel essai automatique dans ${s} s…` : 'Nouvel essai…'),
    'offline.back': 'Connexion au serveur rétablie.', retryNow: 'Réessayer maintenant', retry: 'Réessayer',
    'error.title': 'Une erreur est survenue.', 'error.generic': 'Le serveur a répondu de façon inattendue.',
    foot: 'Winux · des bureaux Linux temporaires, isolés dans leur propre conteneur.', apiDocs: "Documentation de l'API",
    description: 'Un bureau Linux XFCE temporaire, isolé et accessible par RDP, en un clic.',
  },
  en: {
    skip: 'Skip to content', loading: 'Loading…', langName: 'FR', langLabel: 'Passer en français', langOther: 'fr',
    title: 'Winux — a Linux desktop in one click',
    'idle.eyebrow': 'Temporary Linux desktop',
    'idle.title': 'A Linux desktop, right now.',
    'idle.lead': 'A full XFCE desktop in its own isolated container, reachable from any RDP client. It is wiped when the session ends: nothing is kept.',
    launch: 'Launch a Winux session', again: 'Launch a new session',
    'fact.duration': (m, max) => `${dur(m)} session, extendable up to ${dur(max)}`,
    'fact.ready': (s) => `Ready in ${s < 90 ? `~${s} s` : `~${Math.round(s / 60)} min`}`,
    'fact.free': (n) => (n === 1 ? '1 desktop free' : `${n} desktops free`),
    'fact.full': (t) => (t ? `All in use · one frees up around ${t}` : 'All desktops are in use'),
    'creating.title': 'Preparing your desktop…',
    'step.queued': 'Waiting in line', 'step.allocating': 'Reserving a container', 'step.cloning': 'Copying the desktop image',
    'step.starting': 'Starting the container', 'step.network': 'Connecting the network', 'step.desktop': 'Starting the XFCE desktop and RDP server',
    'est.left': (s) => `About ${s} s to go`, 'est.almost': 'Almost ready…',
    'est.slow': 'This is taking longer than usual; still working on it…',
    'how1.t': 'Launch', 'how1.d': 'A fresh container is prepared for you.',
    'how2.t': 'Connect', 'how2.d': 'With the Remote Desktop (RDP) client of your computer or phone.',
    'how3.t': 'All wiped', 'how3.d': 'When time is up, the desktop and its files are deleted.',
    'pill.ok': 'Online', 'pill.warn': 'Ending soon', 'pill.danger': 'Ending now', 'ready.title': 'Your desktop is ready',
    'creds.title': 'Connection details', host: 'Address', port: 'Port', username: 'User name', password: 'Password',
    copy: 'Copy', copied: 'Copied', copyLabel: (l) => `Copy: ${l}`, copiedSay: (l) => `${l} copied to the clipboard.`,
    copyFailed: 'Could not copy: select the text and copy it by hand.',
    rdp: 'Download .rdp file',
    'timer.title': 'Time left', until: (t) => `Until ${t}`,
    'warn.warn': 'Less than 5 minutes left: save your work somewhere else.',
    'warn.danger': 'Less than a minute left: the desktop is about to be deleted.',
    minutesLeft: (m) => (m <= 1 ? 'Less than a minute left.' : `${m} minutes left.`),
    'notify.warn': 'Winux: 5 minutes left', 'notify.danger': 'Winux: less than a minute left',
    'notifyBody.warn': 'Your temporary desktop will be deleted in 5 minutes.',
    'notifyBody.danger': 'Your temporary desktop is about to be deleted.',
    notify: 'Notify me before it ends', notifyOn: 'Notifications on: you will be warned at 5 min and 1 min.',
    notifyDenied: 'Notifications are blocked by the browser.',
    extend: (m) => `Extend by ${m} min`, extendPlain: 'Extend',
    extended: (t) => `Session extended until ${t}.`,
    extendLimit: 'Maximum length reached: this session cannot be extended any more.',
    end: 'End my session',
    'confirm.title': 'End the session?',
    'confirm.body': 'The desktop and all its files will be deleted for good. Open RDP connections will be cut.',
    'confirm.cancel': 'Keep my session', 'confirm.ok': 'End and delete',
    'howto.title': 'How to connect',
    'os.windows': 'Windows', 'os.mac': 'macOS', 'os.linux': 'Linux', 'os.mobile': 'Android / iOS',
    'howto.windows': (a) => `<ol><li>Download the <strong>.rdp file</strong> and open it: Remote Desktop Connection starts.</li>
<li>Or: <kbd>Win</kbd> + <kbd>R</kbd>, type <code>mstsc</code>, then the address <code>${a}</code>.</li>
<li>Enter the user name and password above. Accept the certificate warning: it belongs to this temporary desktop.</li></ol>`,
    'howto.mac': (a) => `<ol><li>Install <strong>Windows App</strong> (formerly Microsoft Remote Desktop) from the App Store.</li>
<li>Open the downloaded .rdp file, or add a PC with the address <code>${a}</code>.</li>
<li>Enter the user name and password, then choose <strong>Continue</strong> at the certificate warning.</li></ol>`,
    'howto.linux': (a) => `<ol><li>With <strong>Remmina</strong>: new <strong>RDP</strong> connection, server <code>${a}</code>, then the user name and password.</li>
<li>Or from a terminal with FreeRDP (<code>xfreerdp3</code> with FreeRDP 3):</li></ol>`,
    'howto.mobile': (a) => `<ol><li>Install <strong>Windows App</strong> (App Store or Google Play).</li>
<li>Add a PC: <code>${a}</code>, with the user name and password above.</li>
<li>A Bluetooth keyboard and mouse make the desktop much more comfortable.</li></ol>`,
    'ended.user': 'Session ended', 'endedBody.user': 'Your desktop and its files have been deleted. Thanks for trying Winux!',
    'ended.expired': 'Your session has expired', 'endedBody.expired': 'Time is up: the desktop and its files have been deleted.',
    'ended.failed': 'The desktop could not start', 'endedBody.failed': 'Preparing it failed and nothing was kept. You can try again.',
    'ended.gone': 'Session not found', 'endedBody.gone': 'This session no longer exists on the server.',
    'ended.cleanup': 'Deleting the desktop…', errorDetail: (m) => `Detail: ${m}`,
    'capacity.title': 'All desktops are in use.',
    'capacity.when': (t, m) => `One should free up around ${t}${m > 0 ? ` (in ${m} min)` : ''}. Please try again then.`,
    'capacity.soon': 'Please try again in a few minutes.',
    'visitor.title': 'You already have a session running.',
    'visitor.body': 'One session at a time: end the other one (maybe in another browser) or wait until it expires.',
    'rate.title': 'Too many requests from your address.', 'rate.body': (s) => (s > 0 ? `Try again in ${s} s.` : 'You can try again now.'),
    'offline.title': 'Cannot reach the server.', 'offline.body': (s) => (s > 0 ? `Retrying automatically in ${s} s…` : 'Retrying…'),
    'offline.back': 'Connection to the server is back.', retryNow: 'Retry now', retry: 'Try again',
    'error.title': 'Something went wrong.', 'error.generic': 'The server answered in an unexpected way.',
    foot: 'Winux · temporary Linux desktops, each isolated in its own container.', apiDocs: 'API documentation',
    description: 'A temporary, isolated XFCE Linux desktop reachable by RDP, in one click.',
  },
};

// ---------------------------------------------------------------- state
const $ = (id) => document.getElementById(id);
const store = {
  get: (k, s = localStorage) => { try { return s.getItem(k); } catch { return null; } },
  set: (k, v, s = localStorage) => { try { v == null ? s.removeItem(k) : s.setItem(k, v); } catch { /* private mode */ } },
};
let lang = pickLang();
let info = null;
let session = null;
let view = 'loading';
let deadline = 0; // performance.now() at which the session's time runs out
let skew = 0; // server clock minus local clock, from expires_at and remaining_seconds
let syncTimer = 0;
let tickTimer = 0;
let level = null;
let lastMinute = null;
let endedReason = null;
let builtFor = '';
let osTab = guessOs();
let banner = null; // { cls, key, title(), body(), action? }
let offline = null; // { fn, attempt, at, timer }
let rateUntil = 0;
let pendingLaunch = false;
let launching = false;

function pickLang() {
  const saved = store.get('winux.lang');
  if (saved === 'fr' || saved === 'en') return saved;
  for (const l of navigator.languages?.length ? navigator.languages : [navigator.language || '']) {
    const p = String(l).slice(0, 2).toLowerCase();
    if (p === 'fr' || p === 'en') return p;
  }
  return 'fr';
}
function t(key, ...args) {
  const v = STR[lang][key] ?? STR.fr[key] ?? key;
  return typeof v === 'function' ? v(...args) : v;
}
function guessOs() {
  const ua = navigator.userAgent;
  if (/Android|iPhone|iPad|iPod/i.test(ua)) return 'mobile';
  if (/Windows/i.test(ua)) return 'windows';
  if (/Macintosh|Mac OS X/i.test(ua)) return 'mac';
  return 'linux';
}
const clock = (ms) => new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
function fmt(sec) {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = String(sec % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${String(m).padStart(2, '0')}:${s}`;
}
const remaining = () => Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
const serverNow = () => Date.now() + skew;

// ---------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, code, message, data = {}, retryAfter = 0) {
    super(message || code);
    Object.assign(this, { status, code, data, retryAfter });
  }
  get retryable() { return this.code === 'unreachable' || this.code === 'unavailable'; }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { 'X-Requested-With': 'winux', Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, 'unreachable');
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON: a proxy page or an empty body */ }
  if (res.ok) return data ?? {};
  const code = typeof data?.error === 'string' ? data.error : res.status >= 500 ? 'unreachable' : `http_${res.status}`;
  const retryAfter = Number(res.headers.get('Retry-After')) || Number(data?.retry_after_seconds) || 0;
  throw new ApiError(res.status, code, typeof data?.message === 'string' ? data.message : '', data ?? {}, retryAfter);
}

// ---------------------------------------------------------------- small UI helpers
function say(text, assertive = false) {
  const el = $(assertive ? 'alerter' : 'announcer');
  el.textContent = '';
  // A fresh text node in a later task makes screen readers announce repeats too.
  setTimeout(() => { el.textContent = text; }, 60);
}

function setView(name) {
  if (view === name) return;
  const from = view;
  view = name;
  for (const v of ['loading', 'idle', 'creating', 'ready', 'ended']) $(`view-${v}`).hidden = v !== name;
  // Move focus to the new heading so keyboard and screen-reader users follow along.
  if (from !== 'loading') $(`view-${name}`).querySelector('h1')?.focus({ preventScroll: false });
  document.title = t('title');
}

function showBanner(spec) {
  banner = spec;
  renderBanner();
  if (spec.announce !== false) say(`${spec.title()} ${spec.body()}`, spec.cls === 'error');
}
function hideBanner(key) {
  if (!banner || (key && banner.key !== key)) return;
  banner = null;
  renderBanner();
}
function renderBanner() {
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
$('banner-action').addEventListener('click', () => banner?.action?.fn());

// ---------------------------------------------------------------- offline handling
// Every failed call that may succeed later goes through here: exponential backoff
// with jitter (1, 2, 4 … 30 s), a visible countdown, and a "retry now" button.
function goOffline(fn) {
  const attempt = (offline?.attempt ?? 0) + 1;
  clearTimeout(offline?.timer);
  const delay = Math.min(30, 2 ** (attempt - 1)) * 1000 * (0.8 + Math.random() * 0.4);
  offline = { fn, attempt, at: performance.now() + delay, timer: setTimeout(() => retry(), delay) };
  const first = attempt === 1;
  showBanner({
    key: 'offline', cls: 'error', announce: first,
    title: () => t('offline.title'),
    body: () => t('offline.body', offline ? Math.max(0, Math.ceil((offline.at - performance.now()) / 1000)) : 0),
    action: { label: () => t('retryNow'), fn: () => retry() },
  });
}
function retry() {
  if (!offline) return;
  clearTimeout(offline.timer);
  offline.at = 0;
  renderBanner();
  offline.fn();
}
function backOnline() {
  if (!offline) return;
  clearTimeout(offline.timer);
  offline = null;
  hideBanner('offline');
  say(t('offline.back'));
}

// ---------------------------------------------------------------- session flow
function schedule(ms) {
  clearTimeout(syncTimer);
  syncTimer = setTimeout(sync, ms);
}

async function sync() {
  if (!session) return;
  const id = session.session_id;
  try {
    const s = await api('GET', `sessions/${encodeURIComponent(id)}`);
    backOnline();
    if (session?.session_id === id) show(s);
  } catch (e) {
    if (session?.session_id !== id) return;
    if (e.retryable) return goOffline(sync);
    if (e.status === 404 || e.status === 401 || e.status === 403) {
      const gone = { ...session, status: 'destroyed' };
      if (!endedReason) endedReason = session.status === 'ready' && remaining() <= 5 ? 'expired' : 'gone';
      return show(gone);
    }
    schedule(RESYNC_MS);
  }
}

function adopt(s) {
  const fresh = session?.session_id !== s.session_id;
  session = s;
  if (typeof s.remaining_seconds === 'number') {
    deadline = performance.now() + s.remaining_seconds * 1000;
    const exp = Date.parse(s.expires_at);
    if (!Number.isNaN(exp)) skew = exp - s.remaining_seconds * 1000 - Date.now();
  }
  if (fresh) {
    level = null;
    lastMinute = null;
    store.set('winux.last', s.session_id);
  }
}

// While a desktop is being prepared (or removed), the server pushes each change
// (GET sessions/{id}/events, server-sent events): "ready" shows the moment it is.
// Polling stays as the fallback, slower while the stream is open.
let events = null;
function follow(id) {
  if (typeof EventSource !== 'function') return false;
  if (events?.id !== id || events.source.readyState === EventSource.CLOSED) {
    unfollow();
    const source = new EventSource(`${API}sessions/${encodeURIComponent(id)}/events`);
    source.addEventListener('session', (e) => {
      let s;
      try { s = JSON.parse(e.data); } catch { return; }
      if (session?.session_id !== s.session_id) return;
      backOnline();
      show(s);
    });
    events = { id, source };
  }
  return events.source.readyState !== EventSource.CLOSED;
}
function unfollow() {
  events?.source.close();
  events = null;
}

function show(s) {
  adopt(s);
  clearTimeout(syncTimer);
  if (s.status === 'creating') {
    renderCreating();
    const age = serverNow() - Date.parse(s.created_at);
    schedule(follow(s.session_id) ? SAFETY_POLL_MS : age < 5000 ? FAST_POLL_MS : POLL_MS);
  } else if (s.status === 'ready') {
    unfollow();
    renderReady();
    // Re-synchronise every 30 s, and right after the local countdown reaches zero.
    const left = remaining() * 1000;
    schedule(left > 0 ? Math.min(RESYNC_MS, left + 500) : 2000);
  } else {
    if (s.status === 'failed') endedReason = 'failed';
    else if (!endedReason) endedReason = store.get('winux.reason') || 'expired';
    renderEnded();
    if (s.status === 'destroying') schedule(follow(s.session_id) ? SAFETY_POLL_MS : POLL_MS);
    else {
      // Closed before the server ends the stream, or EventSource would reconnect to a finished session.
      unfollow();
      store.set('winux.last', null);
      store.set('winux.reason', null);
      if (pendingLaunch) launch();
    }
  }
  tick();
}

async function launch() {
  if (launching) return;
  if (session?.status === 'destroying') {
    // Wait for the old desktop to be gone so the per-visitor limit does not refuse us.
    pendingLaunch = true;
    busy(true);
    setTimeout(() => { if (pendingLaunch) { pendingLaunch = false; session = null; launch(); } }, 20_000);
    return;
  }
  pendingLaunch = false;
  launching = true;
  busy(true);
  try {
    const s = await api('POST', 'sessions', {});
    backOnline();
    hideBanner();
    endedReason = null;
    store.set('winux.reason', null);
    show(s);
    if (!info) loadInfo();
  } catch (e) {
    await launchFailed(e);
  } finally {
    launching = false;
    busy(false);
  }
}

async function launchFailed(e) {
  if (e.retryable) return goOffline(launch);
  backOnline();
  if (e.code === 'capacity_exhausted') {
    const next = Date.parse(e.data.next_free_at);
    if (info?.capacity) Object.assign(info.capacity, { free: 0, next_free_at: e.data.next_free_at ?? info.capacity.next_free_at });
    renderFacts();
    return showBanner({
      key: 'capacity', cls: 'warn',
      title: () => t('capacity.title'),
      body: () => (Number.isNaN(next) ? t('capacity.soon') : t('capacity.when', clock(next), Math.ceil((next - serverNow()) / 60000))),
      action: { label: () => t('retry'), fn: () => launch() },
    });
  }
  if (e.code === 'visitor_limit') {
    // Maybe our own session, started in another tab: take it up rather than complain.
    try {
      const { sessions = [] } = await api('GET', 'sessions');
      const live = sessions.find((s) => s.status === 'creating' || s.status === 'ready');
      if (live) { hideBanner(); endedReason = null; return show(live); }
    } catch { /* fall through to the message */ }
    return showBanner({ key: 'visitor', cls: 'warn', title: () => t('visitor.title'), body: () => t('visitor.body') });
  }
  if (e.code === 'rate_limited') {
    rateUntil = performance.now() + (e.retryAfter || 60) * 1000;
    return showBanner({
      key: 'rate', cls: 'warn',
      title: () => t('rate.title'),
      body: () => t('rate.body', Math.max(0, Math.ceil((rateUntil - performance.now()) / 1000))),
    });
  }
  showError(e);
}

function showError(e) {
  showBanner({
    key: 'error', cls: 'error',
    title: () => t('error.title'),
    body: () => (e.message && e.message !== e.code ? e.message : t('error.generic')),
  });
}

function busy(on) {
  for (const id of ['launch', 'again']) {
    const b = $(id);
    b.setAttribute('aria-busy', String(on));
    b.disabled = on || performance.now() < rateUntil;
  }
}

async function extend() {
  const id = session.session_id;
  const btn = $('extend');
  btn.disabled = true;
  try {
    const s = await api('POST', `sessions/${encodeURIComponent(id)}/extend`, {});
    backOnline();
    show(s);
    const note = t('extended', clock(serverNow() + remaining() * 1000));
    $('extend-note').textContent = note;
    $('extend-note').hidden = false;
    say(note);
  } catch (e) {
    if (e.code === 'extension_limit') {
      session.can_extend = false;
      $('extend-note').textContent = t('extendLimit');
      $('extend-note').hidden = false;
      say(t('extendLimit'));
      renderReady();
      $('end').focus();
      sync();
    } else if (e.retryable) {
      goOffline(sync);
    } else showError(e);
  } finally {
    btn.disabled = false;
  }
}

async function endSession() {
  const id = session.session_id;
  endedReason = 'user';
  store.set('winux.reason', 'user');
  try {
    const s = await api('DELETE', `sessions/${encodeURIComponent(id)}`);
    backOnline();
    show(s);
  } catch (e) {
    if (e.status === 404) return show({ ...session, status: 'destroyed' });
    if (e.retryable) return goOffline(endSession);
    endedReason = null;
    store.set('winux.reason', null);
    showError(e);
  }
}

async function loadInfo() {
  try {
    info = await api('GET', 'info');
    renderFacts();
  } catch { /* the facts line is a nicety */ }
}

async function boot() {
  try {
    const [inf, list] = await Promise.all([
      api('GET', 'info').catch((e) => { if (e.retryable) throw e; return null; }),
      api('GET', 'sessions').catch((e) => { if (e.retryable) throw e; return { sessions: [] }; }),
    ]);
    backOnline();
    info = inf;
    const sessions = Array.isArray(list?.sessions) ? list.sessions : [];
    const live = sessions.find((s) => s.status === 'creating' || s.status === 'ready');
    const last = sessions.find((s) => s.session_id === store.get('winux.last'));
    if (live) show(live);
    else if (last) show(last);
    else renderIdle();
  } catch (e) {
    if (view === 'loading') renderIdle();
    goOffline(boot);
  }
}

// ---------------------------------------------------------------- rendering
function renderIdle() {
  session = null;
  renderFacts();
  setView('idle');
}

function renderFacts() {
  const items = [];
  if (info) {
    items.push(['', t('fact.duration', info.session_minutes, info.max_session_minutes)]);
    if (info.estimated_ready_seconds > 0) items.push(['', t('fact.ready', Math.round(info.estimated_ready_seconds))]);
    const c = info.capacity;
    if (c && typeof c.free === 'number') {
      const next = Date.parse(c.next_free_at);
      items.push(c.free > 0 ? ['', t('fact.free', c.free)] : ['full', t('fact.full', Number.isNaN(next) ? '' : clock(next))]);
    }
  }
  $('facts').innerHTML = items.map(([cls, text]) => `<li${cls ? ` class="${cls}"` : ''}>${esc(text)}</li>`).join('');
}

function renderCreating() {
  setView('creating');
  const step = session.step === 'ready' ? STEPS.length : Math.max(0, STEPS.indexOf(session.step));
  // "Waiting in line" only matters while it is the current step.
  const shown = STEPS.filter((s, i) => s !== 'queued' || step === 0);
  $('steps').innerHTML = shown.map((s) => {
    const i = STEPS.indexOf(s);
    const state = i < step ? 'done' : i === step ? 'current' : 'todo';
    return `<li class="${state}"${state === 'current' ? ' aria-current="step"' : ''}>${esc(t(`step.${s}`))}</li>`;
  }).join('');
  const pct = Math.round(((step + 0.5) / STEPS.length) * 100);
  $('progress').setAttribute('aria-valuenow', String(pct));
  $('progress').firstElementChild.className = '';
  $('progress').firstElementChild.style.width = `${pct}%`;
  renderEstimate();
}

function renderEstimate() {
  const est = info?.estimated_ready_seconds;
  const started = Date.parse(session?.created_at);
  if (!(est > 0) || Number.isNaN(started)) { $('estimate').textContent = ''; return; }
  const elapsed = (serverNow() - started) / 1000;
  const left = est - elapsed;
  $('estimate').textContent = left > 5 ? t('est.left', Math.ceil(left / 5) * 5) : elapsed < est * 1.5 + 10 ? t('est.almost') : t('est.slow');
}

function renderReady() {
  setView('ready');
  const s = session;
  const key = [s.session_id, s.host, s.port, s.username, s.password, lang].join('\n');
  if (builtFor !== key) {
    builtFor = key;
    buildCreds(s);
    buildHowto(s);
  }
  $('rdp').href = `${API}sessions/${encodeURIComponent(s.session_id)}/rdp`;
  $('rdp').setAttribute('download', `winux-${s.session_id}.rdp`);
  const ext = $('extend');
  ext.hidden = !s.can_extend;
  if (s.can_extend) {
    const room = Math.floor((Date.parse(s.max_expires_at) - Date.parse(s.expires_at)) / 60000);
    const m = Math.min(info?.session_minutes ?? Infinity, Number.isNaN(room) ? Infinity : room);
    ext.textContent = Number.isFinite(m) && m > 0 ? t('extend', m) : t('extendPlain');
  }
  renderNotify();
}

function buildCreds(s) {
  const rows = [['host', s.host], ['port', s.port], ['username', s.username], ['password', s.password]];
  $('creds').innerHTML = rows.map(([k, v]) => `<div class="row"><dt id="k-${k}">${esc(t(k))}</dt>
<dd id="v-${k}" translate="no">${esc(v)}</dd>
<button type="button" class="copy" data-copy="${k}" aria-label="${esc(t('copyLabel', t(k)))}">${esc(t('copy'))}</button></div>`).join('');
}

const OSES = ['windows', 'mac', 'linux', 'mobile'];
function buildHowto(s) {
  const addr = esc(hp(s));
  $('tabs').innerHTML = OSES.map((os) => `<button type="button" role="tab" id="tab-${os}" aria-controls="panel-${os}" aria-selected="${os === osTab}" tabindex="${os === osTab ? 0 : -1}">${esc(t(`os.${os}`))}</button>`).join('');
  $('panels').innerHTML = OSES.map((os) => `<div role="tabpanel" id="panel-${os}" aria-labelledby="tab-${os}" tabindex="0"${os === osTab ? '' : ' hidden'}>${t(`howto.${os}`, addr)}${os === 'linux'
    ? `<div class="cmd"><code id="cmd-linux" translate="no">${esc(xfreerdp(s))}</code><button type="button" class="copy" data-copy="cmd" aria-label="${esc(t('copyLabel', 'xfreerdp'))}">${esc(t('copy'))}</button></div>`
    : ''}</div>`).join('');
}
const shq = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
const xfreerdp = (s) => `xfreerdp /v:${hp(s)} /u:${shq(s.username)} /p:${shq(s.password)} /cert:ignore /dynamic-resolution +clipboard`;

function selectTab(os, focus) {
  osTab = os;
  for (const o of OSES) {
    const tab = $(`tab-${o}`);
    tab.setAttribute('aria-selected', String(o === os));
    tab.tabIndex = o === os ? 0 : -1;
    $(`panel-${o}`).hidden = o !== os;
  }
  if (focus) $(`tab-${os}`).focus();
}

function renderNotify() {
  const supported = 'Notification' in window;
  $('notify').hidden = !supported || Notification.permission !== 'default';
}

function renderEnded() {
  setView('ended');
  const reason = endedReason || 'expired';
  $('ended-title').textContent = t(`ended.${reason}`);
  const detail = reason === 'failed' && session?.error ? ` ${t('errorDetail', session.error)}` : '';
  $('ended-body').textContent = t(`endedBody.${reason}`) + detail;
  $('ended-cleanup').hidden = session?.status !== 'destroying';
  document.title = t('title');
}

// The one clock of the page: countdown, warnings, banner countdowns, estimate.
function tick() {
  clearTimeout(tickTimer);
  if (view === 'ready') {
    const rem = remaining();
    const text = fmt(rem);
    $('timer').textContent = text;
    document.title = `${text} · Winux`;
    const total = (session.duration_minutes || 30) * 60;
    $('meter').style.width = `${Math.min(100, (rem / total) * 100)}%`;
    $('until').textContent = t('until', clock(serverNow() + rem * 1000));
    const now = rem <= DANGER_AT ? 'danger' : rem <= WARN_AT ? 'warn' : 'ok';
    if (now !== level) setLevel(now, level === null);
    const minute = Math.ceil(rem / 60);
    if (minute !== lastMinute) {
      // Announce the minutes, never the seconds; warnings speak for themselves.
      if (lastMinute !== null && rem > 0 && !(now !== 'ok' && (minute === 5 || minute === 1))) say(t('minutesLeft', minute));
      lastMinute = minute;
    }
  } else if (view === 'creating') {
    renderEstimate();
  }
  if (banner) renderBanner();
  if (rateUntil && performance.now() >= rateUntil) {
    rateUntil = 0;
    busy(launching);
    if (banner?.key === 'rate') hideBanner('rate');
  }
  const ms = deadline - performance.now();
  tickTimer = setTimeout(tick, view === 'ready' && ms > 0 ? (ms % 1000) + 20 : 1000);
}

function setLevel(now, initial) {
  const prev = level;
  level = now;
  const card = $('timer-card');
  card.classList.toggle('warn', now === 'warn');
  card.classList.toggle('danger', now === 'danger');
  $('ready-pill').className = `pill ${now}`;
  $('pill-text').textContent = t(`pill.${now}`);
  $('warning').hidden = now === 'ok';
  if (now !== 'ok') $('warning').textContent = t(`warn.${now}`);
  // Warn once per level per session, even across reloads; extending re-arms it.
  const key = `winux.warned.${session.session_id}`;
  const warned = store.get(key, sessionStorage) || 'ok';
  if (now === 'ok') { store.set(key, null, sessionStorage); return; }
  if (LEVELS[now] > LEVELS[warned] && (initial || LEVELS[now] > LEVELS[prev ?? 'ok'])) {
    store.set(key, now, sessionStorage);
    say(t(`warn.${now}`), true);
    if ('Notification' in window && Notification.permission === 'granted') {
      try { new Notification(t(`notify.${now}`), { body: t(`notifyBody.${now}`), tag: `winux-${now}`, lang }); } catch { /* mobile Chrome needs a service worker */ }
    }
  }
}

// ---------------------------------------------------------------- copy
async function copyText(text, btn, label) {
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
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    btn.focus();
  }
  if (!ok) return say(t('copyFailed'), true);
  btn.textContent = `✓ ${t('copied')}`;
  btn.classList.add('copied');
  say(t('copiedSay', label));
  clearTimeout(btn._t);
  btn._t = setTimeout(() => { btn.textContent = t('copy'); btn.classList.remove('copied'); }, 2000);
}

// ---------------------------------------------------------------- language
function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const btn = $('lang');
  btn.textContent = t('langName');
  btn.lang = t('langOther');
  btn.setAttribute('aria-label', t('langLabel'));
  btn.title = t('langLabel');
  document.querySelector('meta[name="description"]').content = t('description');
  document.title = t('title');
  if (view === 'idle') renderFacts();
  if (view === 'creating') renderCreating();
  if (view === 'ready') {
    renderReady();
    if (level && level !== 'ok') $('warning').textContent = t(`warn.${level}`);
    if (level) $('pill-text').textContent = t(`pill.${level}`);
  }
  if (view === 'ended') renderEnded();
  renderBanner();
  tick();
}

// ---------------------------------------------------------------- events
$('lang').addEventListener('click', () => {
  lang = lang === 'fr' ? 'en' : 'fr';
  store.set('winux.lang', lang);
  applyLang();
});
$('launch').addEventListener('click', () => launch());
$('again').addEventListener('click', () => { hideBanner(); launch(); });
$('extend').addEventListener('click', () => extend());
const dialog = $('confirm');
$('end').addEventListener('click', () => {
  dialog.returnValue = '';
  dialog.showModal();
});
dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'end') endSession();
  else $('end').focus();
});
$('notify').addEventListener('click', async () => {
  const result = await Notification.requestPermission();
  renderNotify();
  const note = result === 'granted' ? t('notifyOn') : t('notifyDenied');
  $('extend-note').textContent = note;
  $('extend-note').hidden = false;
  say(note);
  $(result === 'granted' ? 'end' : 'notify').focus();
});
$('view-ready').addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-copy]');
  if (btn) {
    const k = btn.dataset.copy;
    copyText(k === 'cmd' ? xfreerdp(session) : String(session[k]), btn, k === 'cmd' ? 'xfreerdp' : t(k));
    return;
  }
  const tab = ev.target.closest('[role="tab"]');
  if (tab) selectTab(tab.id.slice(4), false);
});
$('tabs').addEventListener('keydown', (ev) => {
  const i = OSES.indexOf(osTab);
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: OSES.length - 1 }[ev.key];
  if (next === undefined) return;
  ev.preventDefault();
  selectTab(OSES[(next + OSES.length) % OSES.length], true);
});
// Coming back to a backgrounded tab: timers may have been throttled, so re-sync now.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session && (session.status === 'ready' || session.status === 'creating')) sync();
});

applyLang();
boot();
