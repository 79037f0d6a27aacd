// The console's language: French or English, saved under winux.lang like the visitor page's.
import { createI18n, pickLang } from '../../shared/i18n.ts';
import { en } from './en.ts';
import { fr } from './fr.ts';

export type Lang = 'fr' | 'en';
export const i18n = createI18n<typeof fr, Lang>({ fr, en }, pickLang<Lang>(['fr', 'en'], 'winux.lang'), 'fr');
export const t = i18n.t;
