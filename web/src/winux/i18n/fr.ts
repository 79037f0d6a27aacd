// The visitor page's strings in French, the reference table (and the fallback).
// `howto.*` return HTML: their argument is escaped by the caller.
import { dur } from '../format.ts';

export const fr = {
  skip: 'Aller au contenu', loading: 'Chargement…', langName: 'EN', langLabel: 'Switch to English', langOther: 'en',
  title: 'Winux — un bureau Linux en un clic',
  'idle.eyebrow': 'Bureau Linux temporaire',
  'idle.title': 'Un bureau Linux, tout de suite.',
  'idle.lead': "Un bureau XFCE complet dans son propre conteneur isolé, accessible depuis n'importe quel client RDP. Il est effacé à la fin de la session : rien ne reste.",
  launch: 'Lancer une session Winux', again: 'Lancer une nouvelle session',
  'fact.duration': (m: number, max: number) => `Session de ${dur(m)}, prolongeable jusqu'à ${dur(max)}`,
  'fact.ready': (s: number) => `Prêt en ${s < 90 ? `~${s} s` : `~${Math.round(s / 60)} min`}`,
  'fact.free': (n: number) => (n === 1 ? '1 bureau libre' : `${n} bureaux libres`),
  'fact.full': (t: string) => (t ? `Tous occupés · un bureau se libère vers ${t}` : 'Tous les bureaux sont occupés'),
  'creating.title': 'Préparation de votre bureau…',
  'step.queued': "En file d'attente", 'step.allocating': "Réservation d'un conteneur", 'step.cloning': 'Copie du bureau modèle',
  'step.starting': 'Démarrage du conteneur', 'step.network': 'Connexion au réseau', 'step.desktop': 'Démarrage du bureau XFCE et du serveur RDP',
  'est.left': (s: number) => `Encore environ ${s} s`, 'est.almost': 'Presque prêt…',
  'est.slow': "C'est plus long que d'habitude, la préparation continue…",
  'how1.t': 'Lancez', 'how1.d': 'Un conteneur neuf est préparé pour vous.',
  'how2.t': 'Connectez-vous', 'how2.d': 'Avec le client Bureau à distance (RDP) de votre ordinateur ou téléphone.',
  'how3.t': 'Tout est effacé', 'how3.d': 'À la fin du temps, le bureau et ses fichiers sont supprimés.',
  'pill.ok': 'En ligne', 'pill.warn': 'Bientôt terminé', 'pill.danger': 'Fin imminente', 'ready.title': 'Votre bureau est prêt',
  'creds.title': 'Informations de connexion', host: 'Adresse', port: 'Port', username: 'Utilisateur', password: 'Mot de passe',
  copy: 'Copier', copied: 'Copié', copyLabel: (l: string) => `Copier : ${l}`, copiedSay: (l: string) => `${l} : copié dans le presse-papiers.`,
  copyFailed: 'Copie impossible : sélectionnez le texte et copiez-le à la main.',
  rdp: 'Télécharger le fichier .rdp',
  'timer.title': 'Temps restant', until: (t: string) => `Jusqu'à ${t}`,
  'warn.warn': "Moins de 5 minutes : pensez à enregistrer votre travail ailleurs.",
  'warn.danger': "Moins d'une minute : le bureau va être supprimé.",
  minutesLeft: (m: number) => (m <= 1 ? 'Moins d’une minute restante.' : `${m} minutes restantes.`),
  'notify.warn': 'Winux : plus que 5 minutes', 'notify.danger': 'Winux : moins d’une minute',
  'notifyBody.warn': 'Votre bureau temporaire sera supprimé dans 5 minutes.',
  'notifyBody.danger': 'Votre bureau temporaire va être supprimé.',
  notify: "M'avertir par une notification avant la fin", notifyOn: 'Notifications activées : vous serez averti à 5 min et à 1 min.',
  notifyDenied: 'Notifications refusées par le navigateur.',
  extend: (m: number) => `Prolonger de ${m} min`, extendPlain: 'Prolonger',
  extended: (t: string) => `Session prolongée jusqu'à ${t}.`,
  extendLimit: 'Durée maximale atteinte : la session ne peut plus être prolongée.',
  end: 'Terminer ma session',
  'confirm.title': 'Terminer la session ?',
  'confirm.body': 'Le bureau et tous ses fichiers seront supprimés définitivement. Les connexions RDP ouvertes seront coupées.',
  'confirm.cancel': 'Garder ma session', 'confirm.ok': 'Terminer et supprimer',
  'howto.title': 'Se connecter',
  'os.windows': 'Windows', 'os.mac': 'macOS', 'os.linux': 'Linux', 'os.mobile': 'Android / iOS',
  'howto.windows': (a: string) => `<ol><li>Téléchargez le <strong>fichier .rdp</strong> et ouvrez-le : Connexion Bureau à distance démarre.</li>
<li>Ou bien : <kbd>Win</kbd> + <kbd>R</kbd>, tapez <code>mstsc</code>, puis l'adresse <code>${a}</code>.</li>
<li>Saisissez l'utilisateur et le mot de passe ci-dessus. Acceptez l'avertissement de certificat : il est propre à ce bureau temporaire.</li></ol>`,
  'howto.mac': (a: string) => `<ol><li>Installez <strong>Windows App</strong> (anciennement Microsoft Remote Desktop) depuis l'App Store.</li>
<li>Ouvrez le fichier .rdp téléchargé, ou ajoutez un PC avec l'adresse <code>${a}</code>.</li>
<li>Saisissez l'utilisateur et le mot de passe, puis choisissez <strong>Continuer</strong> à l'avertissement de certificat.</li></ol>`,
  'howto.linux': (a: string) => `<ol><li>Avec <strong>Remmina</strong> : nouvelle connexion <strong>RDP</strong>, serveur <code>${a}</code>, puis l'utilisateur et le mot de passe.</li>
<li>Ou en ligne de commande avec FreeRDP (<code>xfreerdp3</code> pour FreeRDP 3) :</li></ol>`,
  'howto.mobile': (a: string) => `<ol><li>Installez <strong>Windows App</strong> (App Store ou Google Play).</li>
<li>Ajoutez un PC : <code>${a}</code>, avec l'utilisateur et le mot de passe ci-dessus.</li>
<li>Un clavier et une souris Bluetooth rendent le bureau bien plus confortable.</li></ol>`,
  'ended.user': 'Session terminée', 'endedBody.user': 'Votre bureau et ses fichiers ont été supprimés. Merci d’avoir essayé Winux !',
  'ended.expired': 'Votre session a expiré', 'endedBody.expired': 'Le temps est écoulé : le bureau et ses fichiers ont été supprimés.',
  'ended.failed': "Le bureau n'a pas pu démarrer", 'endedBody.failed': 'La préparation a échoué et rien n’a été conservé. Vous pouvez réessayer.',
  'ended.gone': 'Session introuvable', 'endedBody.gone': "Cette session n'existe plus sur le serveur.",
  'ended.cleanup': 'Suppression du bureau en cours…', errorDetail: (m: string) => `Détail : ${m}`,
  'capacity.title': 'Tous les bureaux sont occupés.',
  'capacity.when': (t: string, m: number) => `Un bureau devrait se libérer vers ${t}${m > 0 ? ` (dans ${m} min)` : ''}. Réessayez à ce moment-là.`,
  'capacity.soon': 'Réessayez dans quelques minutes.',
  'visitor.title': 'Vous avez déjà une session en cours.',
  'visitor.body': 'Une seule session à la fois : terminez l’autre (peut-être dans un autre navigateur) ou attendez qu’elle expire.',
  'rate.title': 'Trop de demandes depuis votre adresse.', 'rate.body': (s: number) => (s > 0 ? `Réessayez dans ${s} s.` : 'Vous pouvez réessayer.'),
  'offline.title': 'Serveur injoignable.', 'offline.body': (s: number) => (s > 0 ? `Nouvel essai automatique dans ${s} s…` : 'Nouvel essai…'),
  'offline.back': 'Connexion au serveur rétablie.', retryNow: 'Réessayer maintenant', retry: 'Réessayer',
  'error.title': 'Une erreur est survenue.', 'error.generic': 'Le serveur a répondu de façon inattendue.',
  foot: 'Winux · des bureaux Linux temporaires, isolés dans leur propre conteneur.', apiDocs: "Documentation de l'API",
  description: 'Un bureau Linux XFCE temporaire, isolé et accessible par RDP, en un clic.',
};

export type Strings = typeof fr;
