// Tag rules from pve-common (`$PVE_TAG_RE`, `split_list`) and pve-guest-common
// (`get_unique_tags` with the default tag-style): split on ; , or spaces,
// validate each, lowercase, de-duplicate, sort, store joined with ';'.
import { paramError } from './errors.ts';

const tagRe = /^[a-z0-9_][a-z0-9_\-+.]*$/i;

export function normaliseTags(input: string): string {
  const tags = input.split(/[;,\s]+/).filter(Boolean);
  for (const tag of tags) {
    if (!tagRe.test(tag)) throw paramError({ tags: `invalid format - invalid tag '${tag}'` });
  }
  return [...new Set(tags.map((t) => t.toLowerCase()))].sort().join(';');
}

export function tagList(stored: string | undefined): string[] {
  return stored ? stored.split(';').filter(Boolean) : [];
}
