// The words of the web UI, one table per language with the same keys, and the
// choice of language: the one remembered in localStorage, else the first of
// navigator.languages we have, else English. "{name}" marks a parameter; an
// entry that is an object is chosen by plural rule with the parameter n.

const STORE_KEY = 'comptoir.lang';

export const LANGS = {
	en: 'English',
	fr: 'Français',
};

const en = {
	'app.name': 'Comptoir',
	'app.loading': 'Loading…',
	'app.skip': 'Skip to content',
	'app.tagline': 'The staff network of every site',

	'nav.main': 'Main',
	'nav.feed': 'Feed',
	'nav.people': 'People',
	'nav.status': 'Sites',
	'nav.admin': 'Users',
	'nav.me': 'My profile',
	'nav.logout': 'Log out',
	'nav.account': 'Signed in as {handle}',
	'lang.switch': 'Afficher en français',

	'login.title': 'Sign in',
	'login.site': 'Site {site}',
	'login.handle': 'User name',
	'login.password': 'Password',
	'login.submit': 'Sign in',
	'login.busy': 'Signing in…',
	'login.wrong': 'Wrong user name or password.',
	'login.disabled': 'This account is disabled. Ask the IT team of your site.',
	'login.limited': 'Too many attempts from this computer. Try again in {s} s.',
	'login.limited_later': 'Too many attempts from this computer. Try again in a minute.',
	'login.expired': 'Your session has ended. Please sign in again.',
	'login.out': 'You are signed out.',
	'login.help': 'Your account is created by the IT team of your site.',

	'feed.title': 'Feed',
	'feed.more': 'Show older posts',
	'feed.loading': 'Loading posts…',
	'feed.end': 'You have seen every post.',
	'feed.empty': 'Nothing here yet. Write the first post!',
	'feed.new': { one: 'Show {n} new post', other: 'Show {n} new posts' },
	'feed.new_announce': { one: '{n} new post', other: '{n} new posts' },
	'feed.resync': 'The feed was refreshed after a gap in live updates.',

	'compose.label': 'Write a post',
	'compose.placeholder': 'Share news with your colleagues… Type @ to mention someone.',
	'compose.submit': 'Post',
	'compose.busy': 'Posting…',
	'compose.hint': 'Ctrl+Enter to send',
	'compose.done': 'Your post is published.',
	'compose.empty': 'Write something first.',

	'mention.list': 'Colleagues matching',

	'post.by': 'Post by {name}',
	'post.edited': 'edited',
	'post.edited_at': 'Edited {when}',
	'post.edit': 'Edit',
	'post.delete': 'Delete',
	'post.save': 'Save',
	'post.cancel': 'Cancel',
	'post.edit_label': 'Text of the post',
	'post.saved': 'Post updated.',
	'post.delete_confirm': 'Delete this post for everyone, at every site?',
	'post.delete_yes': 'Delete',
	'post.deleted': 'Post deleted.',
	'post.gone': 'This post does not exist or was deleted.',
	'post.actions': 'Actions on this post',
	'post.back': 'Back to the feed',
	'post.permalink': 'Open this post',

	'comments.show': { one: '{n} comment', other: '{n} comments' },
	'comments.none': 'Comment',
	'comments.label': 'Write a comment',
	'comments.placeholder': 'Write a comment…',
	'comments.submit': 'Reply',
	'comments.loading': 'Loading comments…',
	'comments.earlier': 'Show earlier comments',
	'comments.earlier_n': { one: 'Show {n} earlier comment', other: 'Show {n} earlier comments' },
	'comments.list': 'Comments',
	'comments.hide': 'Hide comments',

	'react.add': 'Add a reaction',
	'react.picker': 'Reactions',
	'react.with': 'React with {name}',
	'react.count': { one: '{name}: {n} person, press to toggle yours', other: '{name}: {n} people, press to toggle yours' },
	'react.👍': 'Like',
	'react.❤️': 'Love',
	'react.🎉': 'Celebrate',
	'react.😄': 'Funny',
	'react.🤔': 'Interesting',
	'react.👀': 'Seen',
	'react.like': 'Like',

	'people.title': 'People',
	'people.search': 'Search colleagues',
	'people.placeholder': 'Name, team, site, skill…',
	'people.count': { one: '{n} person', other: '{n} people' },
	'people.none': 'Nobody matches “{q}”.',
	'people.all_sites': 'Every site is searched, including sites that are not reachable right now.',
	'people.loading': 'Searching…',
	'people.more': 'Only the first ones are shown: make the search more precise.',

	'person.posts': 'Posts',
	'person.no_posts': 'No posts yet.',
	'person.not_found': 'No one here has the user name “{handle}”.',
	'person.edit': 'Edit my profile',
	'person.home_site': 'Home site',
	'person.disabled': 'This account is disabled.',
	'person.admin': 'Site admin',
	'person.skills': 'Skills',
	'person.contact': 'Contact',
	'person.about': 'About',
	'person.updated': 'Profile updated {when}',

	'field.name': 'Full name',
	'field.title': 'Job title',
	'field.department': 'Department',
	'field.site': 'Site',
	'field.phone': 'Phone',
	'field.location': 'Office / location',
	'field.skills': 'Skills',
	'field.skills_hint': 'Separate skills with commas.',
	'field.bio': 'About me',
	'field.bio_hint': 'A few lines: what you work on, what colleagues can ask you.',

	'profile.title': 'Edit my profile',
	'profile.save': 'Save profile',
	'profile.busy': 'Saving…',
	'profile.saved': 'Profile saved.',
	'profile.unchanged': 'Nothing changed.',
	'profile.view': 'See my profile',

	'status.title': 'Sites',
	'status.this_site': 'This site',
	'status.site': 'Site',
	'status.state': 'State',
	'status.last': 'Last exchange',
	'status.to_send': 'Waiting to send',
	'status.to_receive': 'Waiting to receive',
	'status.sent': 'Sent',
	'status.received': 'Received',
	'status.local': 'This site',
	'status.connected': 'Reachable',
	'status.connected_since': 'Reachable since {when}',
	'status.disconnected': 'Unreachable',
	'status.disconnected_since': 'Unreachable since {when}',
	'status.never': 'Never reached',
	'status.never_exchanged': 'never',
	'status.lone': 'This site has no peer sites yet: it runs on its own. When IT connects other sites, they will be listed here.',
	'status.all_ok': { one: 'The other site is reachable.', other: 'All {n} other sites are reachable.' },
	'status.some_down': { one: '{n} site is unreachable.', other: '{n} sites are unreachable.' },
	'status.keeps_working': 'Everything on this site keeps working: you can read, post, comment and react. What you write is kept here and reaches the other sites as soon as the link is back.',
	'status.draining': { one: '{n} event is waiting to be exchanged.', other: '{n} events are waiting to be exchanged.' },
	'status.node': 'This node',
	'status.version': 'Version',
	'status.uptime': 'Running for',
	'status.events': 'Events stored',
	'status.posts': 'Posts',
	'status.users': 'Users',
	'status.pending': 'Waiting for a certificate',
	'status.sessions': 'Open sessions',
	'status.unreachable': 'This site’s server is not answering. Check your network connection; the page will recover by itself.',
	'status.updated': 'Updated every 5 seconds.',
	'status.peers': 'Peer sites',

	'conn.checking': 'Checking…',
	'conn.lone': 'This site',
	'conn.lone_long': 'This site has no peer sites',
	'conn.ok': 'All sites reachable',
	'conn.ok_long': { one: 'The other site is reachable', other: 'All {n} other sites are reachable' },
	'conn.down': { one: '{n} site unreachable', other: '{n} sites unreachable' },
	'conn.down_long': 'Unreachable: {sites}',
	'conn.syncing': 'Syncing',
	'conn.syncing_long': { one: '{n} event waiting to be exchanged', other: '{n} events waiting to be exchanged' },
	'conn.offline': 'Server not answering',
	'conn.offline_long': 'This site’s server is not answering',
	'conn.details': '{short} ({state}). Open the sites page.',

	'outage.one': '{sites} has been unreachable since {when}.',
	'outage.many': '{sites} are unreachable.',
	'outage.keep': 'Everything here keeps working; what you post reaches them when the link is back.',
	'outage.server': 'This site’s server is not answering. Your last changes may not be saved; the page reconnects by itself.',

	'admin.title': 'Users of this site',
	'admin.add': 'Add a user',
	'admin.handle': 'User name',
	'admin.handle_hint': 'Lowercase letters, digits, dot, dash or underscore; up to 32 characters.',
	'admin.name': 'Full name',
	'admin.is_admin': 'Site admin (can manage users)',
	'admin.create': 'Create user',
	'admin.created': 'User {handle} created. Give them this password, which will not be shown again:',
	'admin.reset': 'Reset password',
	'admin.reset_confirm': 'Give {handle} a new password? The current one stops working.',
	'admin.reset_done': 'New password for {handle}, shown only once:',
	'admin.disable': 'Disable',
	'admin.disable_confirm': 'Disable {handle} at every site? This cannot be undone.',
	'admin.disabled_done': '{handle} is disabled.',
	'admin.role': 'Role',
	'admin.state': 'State',
	'admin.actions': 'Actions',
	'admin.role_admin': 'Admin',
	'admin.role_member': 'Member',
	'admin.active': 'Active',
	'admin.disabled': 'Disabled',
	'admin.copy': 'Copy',
	'admin.copied': 'Copied.',
	'admin.missing': 'User management from the web is not available on this node yet (the server has no /api/admin/users). Use the command line on the server: comptoir user add, comptoir user passwd, comptoir user disable.',
	'admin.forbidden': 'Only site admins can manage users.',
	'admin.none': 'No users yet.',
	'admin.confirm': 'Confirm',

	'time.now': 'just now',
	'err.network': 'Cannot reach the server. Check your connection and try again.',
	'err.generic': 'Something went wrong: {msg}',
	'err.forbidden': 'You are not allowed to do that.',
	'err.not_found': 'Not found.',
	'err.too_long': 'This text is too long.',
	'err.dismiss': 'Dismiss',
	'duration.d': '{n} d',
	'duration.h': '{n} h',
	'duration.m': '{n} min',
	'duration.s': '{n} s',
};

const fr = {
	'app.name': 'Comptoir',
	'app.loading': 'Chargement…',
	'app.skip': 'Aller au contenu',
	'app.tagline': 'Le réseau du personnel de tous les sites',

	'nav.main': 'Principale',
	'nav.feed': 'Fil',
	'nav.people': 'Annuaire',
	'nav.status': 'Sites',
	'nav.admin': 'Utilisateurs',
	'nav.me': 'Mon profil',
	'nav.logout': 'Se déconnecter',
	'nav.account': 'Connecté en tant que {handle}',
	'lang.switch': 'Show in English',

	'login.title': 'Connexion',
	'login.site': 'Site {site}',
	'login.handle': 'Identifiant',
	'login.password': 'Mot de passe',
	'login.submit': 'Se connecter',
	'login.busy': 'Connexion…',
	'login.wrong': 'Identifiant ou mot de passe incorrect.',
	'login.disabled': 'Ce compte est désactivé. Adressez-vous à l’équipe informatique de votre site.',
	'login.limited': 'Trop de tentatives depuis cet ordinateur. Réessayez dans {s} s.',
	'login.limited_later': 'Trop de tentatives depuis cet ordinateur. Réessayez dans une minute.',
	'login.expired': 'Votre session a pris fin. Veuillez vous reconnecter.',
	'login.out': 'Vous êtes déconnecté.',
	'login.help': 'Votre compte est créé par l’équipe informatique de votre site.',

	'feed.title': 'Fil',
	'feed.more': 'Afficher les publications plus anciennes',
	'feed.loading': 'Chargement des publications…',
	'feed.end': 'Vous avez tout vu.',
	'feed.empty': 'Rien pour l’instant. Écrivez la première publication !',
	'feed.new': { one: 'Afficher {n} nouvelle publication', other: 'Afficher {n} nouvelles publications' },
	'feed.new_announce': { one: '{n} nouvelle publication', other: '{n} nouvelles publications' },
	'feed.resync': 'Le fil a été actualisé après une interruption du direct.',

	'compose.label': 'Écrire une publication',
	'compose.placeholder': 'Partagez une nouvelle avec vos collègues… Tapez @ pour mentionner quelqu’un.',
	'compose.submit': 'Publier',
	'compose.busy': 'Publication…',
	'compose.hint': 'Ctrl+Entrée pour envoyer',
	'compose.done': 'Votre publication est en ligne.',
	'compose.empty': 'Écrivez d’abord quelque chose.',

	'mention.list': 'Collègues correspondants',

	'post.by': 'Publication de {name}',
	'post.edited': 'modifié',
	'post.edited_at': 'Modifié {when}',
	'post.edit': 'Modifier',
	'post.delete': 'Supprimer',
	'post.save': 'Enregistrer',
	'post.cancel': 'Annuler',
	'post.edit_label': 'Texte de la publication',
	'post.saved': 'Publication modifiée.',
	'post.delete_confirm': 'Supprimer cette publication pour tout le monde, sur tous les sites ?',
	'post.delete_yes': 'Supprimer',
	'post.deleted': 'Publication supprimée.',
	'post.gone': 'Cette publication n’existe pas ou a été supprimée.',
	'post.actions': 'Actions sur cette publication',
	'post.back': 'Retour au fil',
	'post.permalink': 'Ouvrir cette publication',

	'comments.show': { one: '{n} commentaire', other: '{n} commentaires' },
	'comments.none': 'Commenter',
	'comments.label': 'Écrire un commentaire',
	'comments.placeholder': 'Écrire un commentaire…',
	'comments.submit': 'Répondre',
	'comments.loading': 'Chargement des commentaires…',
	'comments.earlier': 'Afficher les commentaires précédents',
	'comments.earlier_n': { one: 'Afficher le commentaire précédent', other: 'Afficher les {n} commentaires précédents' },
	'comments.list': 'Commentaires',
	'comments.hide': 'Masquer les commentaires',

	'react.add': 'Ajouter une réaction',
	'react.picker': 'Réactions',
	'react.with': 'Réagir avec {name}',
	'react.count': { one: '{name} : {n} personne, appuyez pour ajouter ou retirer la vôtre', other: '{name} : {n} personnes, appuyez pour ajouter ou retirer la vôtre' },
	'react.👍': 'J’aime',
	'react.❤️': 'J’adore',
	'react.🎉': 'Bravo',
	'react.😄': 'Drôle',
	'react.🤔': 'Intéressant',
	'react.👀': 'Vu',
	'react.like': 'J’aime',

	'people.title': 'Annuaire',
	'people.search': 'Rechercher des collègues',
	'people.placeholder': 'Nom, équipe, site, compétence…',
	'people.count': { one: '{n} personne', other: '{n} personnes' },
	'people.none': 'Personne ne correspond à « {q} ».',
	'people.all_sites': 'La recherche porte sur tous les sites, même ceux qui sont injoignables en ce moment.',
	'people.loading': 'Recherche…',
	'people.more': 'Seuls les premiers résultats sont affichés : précisez la recherche.',

	'person.posts': 'Publications',
	'person.no_posts': 'Aucune publication pour l’instant.',
	'person.not_found': 'Personne n’a l’identifiant « {handle} ».',
	'person.edit': 'Modifier mon profil',
	'person.home_site': 'Site de rattachement',
	'person.disabled': 'Ce compte est désactivé.',
	'person.admin': 'Administrateur du site',
	'person.skills': 'Compétences',
	'person.contact': 'Contact',
	'person.about': 'À propos',
	'person.updated': 'Profil mis à jour {when}',

	'field.name': 'Nom complet',
	'field.title': 'Fonction',
	'field.department': 'Service',
	'field.site': 'Site',
	'field.phone': 'Téléphone',
	'field.location': 'Bureau / emplacement',
	'field.skills': 'Compétences',
	'field.skills_hint': 'Séparez les compétences par des virgules.',
	'field.bio': 'À propos de moi',
	'field.bio_hint': 'Quelques lignes : sur quoi vous travaillez, ce que l’on peut vous demander.',

	'profile.title': 'Modifier mon profil',
	'profile.save': 'Enregistrer le profil',
	'profile.busy': 'Enregistrement…',
	'profile.saved': 'Profil enregistré.',
	'profile.unchanged': 'Rien n’a changé.',
	'profile.view': 'Voir mon profil',

	'status.title': 'Sites',
	'status.this_site': 'Ce site',
	'status.site': 'Site',
	'status.state': 'État',
	'status.last': 'Dernier échange',
	'status.to_send': 'En attente d’envoi',
	'status.to_receive': 'En attente de réception',
	'status.sent': 'Envoyés',
	'status.received': 'Reçus',
	'status.local': 'Ce site',
	'status.connected': 'Joignable',
	'status.connected_since': 'Joignable depuis {when}',
	'status.disconnected': 'Injoignable',
	'status.disconnected_since': 'Injoignable depuis {when}',
	'status.never': 'Jamais joint',
	'status.never_exchanged': 'jamais',
	'status.lone': 'Ce site n’a pas encore de site pair : il fonctionne seul. Quand l’informatique reliera d’autres sites, ils apparaîtront ici.',
	'status.all_ok': { one: 'L’autre site est joignable.', other: 'Les {n} autres sites sont joignables.' },
	'status.some_down': { one: '{n} site est injoignable.', other: '{n} sites sont injoignables.' },
	'status.keeps_working': 'Tout continue de fonctionner sur ce site : vous pouvez lire, publier, commenter et réagir. Ce que vous écrivez est conservé ici et parvient aux autres sites dès le retour de la liaison.',
	'status.draining': { one: '{n} événement attend d’être échangé.', other: '{n} événements attendent d’être échangés.' },
	'status.node': 'Ce nœud',
	'status.version': 'Version',
	'status.uptime': 'En service depuis',
	'status.events': 'Événements stockés',
	'status.posts': 'Publications',
	'status.users': 'Utilisateurs',
	'status.pending': 'En attente d’un certificat',
	'status.sessions': 'Sessions ouvertes',
	'status.unreachable': 'Le serveur de ce site ne répond pas. Vérifiez votre connexion réseau ; la page se rétablira d’elle-même.',
	'status.updated': 'Actualisé toutes les 5 secondes.',
	'status.peers': 'Sites pairs',

	'conn.checking': 'Vérification…',
	'conn.lone': 'Ce site',
	'conn.lone_long': 'Ce site n’a pas de site pair',
	'conn.ok': 'Tous les sites joignables',
	'conn.ok_long': { one: 'L’autre site est joignable', other: 'Les {n} autres sites sont joignables' },
	'conn.down': { one: '{n} site injoignable', other: '{n} sites injoignables' },
	'conn.down_long': 'Injoignables : {sites}',
	'conn.syncing': 'Synchronisation',
	'conn.syncing_long': { one: '{n} événement en attente d’échange', other: '{n} événements en attente d’échange' },
	'conn.offline': 'Serveur muet',
	'conn.offline_long': 'Le serveur de ce site ne répond pas',
	'conn.details': '{short} ({state}). Ouvrir la page des sites.',

	'outage.one': '{sites} est injoignable depuis {when}.',
	'outage.many': '{sites} sont injoignables.',
	'outage.keep': 'Tout continue de fonctionner ici ; ce que vous publiez leur parviendra au retour de la liaison.',
	'outage.server': 'Le serveur de ce site ne répond pas. Vos dernières modifications peuvent ne pas être enregistrées ; la page se reconnecte d’elle-même.',

	'admin.title': 'Utilisateurs de ce site',
	'admin.add': 'Ajouter un utilisateur',
	'admin.handle': 'Identifiant',
	'admin.handle_hint': 'Lettres minuscules, chiffres, point, tiret ou souligné ; 32 caractères au plus.',
	'admin.name': 'Nom complet',
	'admin.is_admin': 'Administrateur du site (gère les utilisateurs)',
	'admin.create': 'Créer l’utilisateur',
	'admin.created': 'Utilisateur {handle} créé. Transmettez-lui ce mot de passe, qui ne sera plus affiché :',
	'admin.reset': 'Nouveau mot de passe',
	'admin.reset_confirm': 'Donner un nouveau mot de passe à {handle} ? L’actuel cessera de fonctionner.',
	'admin.reset_done': 'Nouveau mot de passe de {handle}, affiché une seule fois :',
	'admin.disable': 'Désactiver',
	'admin.disable_confirm': 'Désactiver {handle} sur tous les sites ? C’est définitif.',
	'admin.disabled_done': '{handle} est désactivé.',
	'admin.role': 'Rôle',
	'admin.state': 'État',
	'admin.actions': 'Actions',
	'admin.role_admin': 'Admin',
	'admin.role_member': 'Membre',
	'admin.active': 'Actif',
	'admin.disabled': 'Désactivé',
	'admin.copy': 'Copier',
	'admin.copied': 'Copié.',
	'admin.missing': 'La gestion des utilisateurs depuis le web n’est pas encore disponible sur ce nœud (le serveur n’a pas /api/admin/users). Utilisez la ligne de commande sur le serveur : comptoir user add, comptoir user passwd, comptoir user disable.',
	'admin.forbidden': 'Seuls les administrateurs du site peuvent gérer les utilisateurs.',
	'admin.none': 'Aucun utilisateur pour l’instant.',
	'admin.confirm': 'Confirmer',

	'time.now': 'à l’instant',
	'err.network': 'Impossible de joindre le serveur. Vérifiez votre connexion et réessayez.',
	'err.generic': 'Une erreur est survenue : {msg}',
	'err.forbidden': 'Vous n’avez pas le droit de faire cela.',
	'err.not_found': 'Introuvable.',
	'err.too_long': 'Ce texte est trop long.',
	'err.dismiss': 'Fermer',
	'duration.d': '{n} j',
	'duration.h': '{n} h',
	'duration.m': '{n} min',
	'duration.s': '{n} s',
};

export const tables = { en, fr };

function stored() {
	try {
		return localStorage.getItem(STORE_KEY);
	} catch {
		return null; /* storage disabled: choose from the browser each time */
	}
}

/* The remembered language, else the browser's first one that we have. */
function detect() {
	const saved = stored();
	if (saved && tables[saved])
		return saved;
	for (const l of navigator.languages || [navigator.language || 'en']) {
		const base = String(l).toLowerCase().split('-')[0];
		if (tables[base])
			return base;
	}
	return 'en';
}

let current = detect();

export function lang() {
	return current;
}

/* Switches language and remembers the choice; the caller re-renders. */
export function setLang(l) {
	if (!tables[l])
		return;
	current = l;
	try {
		localStorage.setItem(STORE_KEY, l);
	} catch {
		/* not remembered: still switched for this page */
	}
	document.documentElement.lang = l;
}

/* The other language, for the one-click switch. */
export function otherLang() {
	return current === 'fr' ? 'en' : 'fr';
}

/* The text of key with {params} filled in. The result is plain text: callers
 * insert it with textContent, so a parameter can never become markup. */
export function t(key, params = {}) {
	let s = tables[current][key] ?? en[key] ?? key;
	if (typeof s === 'object') {
		const rule = new Intl.PluralRules(current).select(Number(params.n) || 0);
		s = s[rule] ?? s.other;
	}
	return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

document.documentElement.lang = current;
