// The languages a desktop can be set to (the page's): the desktop's locale,
// keyboard layout and folder names follow the visitor's.

/** fr → fr_FR.UTF-8 + azerty, en → en_US.UTF-8 + us qwerty. */
export const languages = ['fr', 'en'] as const;
export type Language = (typeof languages)[number];
/** The template's own language (Winux's first users are French schools). */
export const defaultLanguage: Language = 'fr';

/** A warm pool's key: the desktop, with `/language` when it is not the default one (`xfce`, `xfce/en`). */
export function poolKey(desktop: string, language: Language = defaultLanguage): string {
  return language === defaultLanguage ? desktop : `${desktop}/${language}`;
}

export function isLanguage(value: string): value is Language {
  return (languages as readonly string[]).includes(value);
}
