/** The languages the service and the kit speak; Turkish is the default. */
export type Language = "tr" | "en";

export const DEFAULT_LANGUAGE: Language = "tr";

/** A fixed language or a function read at each use (the app's setting). */
export type LanguageSource = Language | (() => Language);

export function currentLanguage(source: LanguageSource | undefined): Language {
  if (source === undefined) return DEFAULT_LANGUAGE;
  return typeof source === "function" ? source() : source;
}
