// Invisible and bidirectional characters in dataset text, found the way VS Code's editor finds
// them (its unicode highlighting: invisible characters and bidi controls), so a webview can show
// each one as a visible mark. `\u202eevil\u202c` otherwise reads as "live"; a zero-width space
// or a run of TAG characters hides text a model is trained on. Pure: no DOM, tested under node;
// shared by the dataset preview (marks as elements) and the host (marks as text: tree labels,
// tooltips, titles, where no element can be styled).

export type TextPiece =
  /** Ordinary text, shown as it is. */
  | { readonly text: string }
  /** One invisible character (or one run of TAG characters), shown as `label` with `title`. */
  | { readonly mark: string; readonly label: string; readonly title: string; readonly bidi: boolean };

const NAMES: Record<number, string> = {
  0x00: 'NULL',
  0x7f: 'DELETE',
  0xa0: 'NO-BREAK SPACE',
  0xad: 'SOFT HYPHEN',
  0x34f: 'COMBINING GRAPHEME JOINER',
  0x61c: 'ARABIC LETTER MARK',
  0x115f: 'HANGUL CHOSEONG FILLER',
  0x1160: 'HANGUL JUNGSEONG FILLER',
  0x17b4: 'KHMER VOWEL INHERENT AQ',
  0x17b5: 'KHMER VOWEL INHERENT AA',
  0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x2000: 'EN QUAD',
  0x2001: 'EM QUAD',
  0x2002: 'EN SPACE',
  0x2003: 'EM SPACE',
  0x2004: 'THREE-PER-EM SPACE',
  0x2005: 'FOUR-PER-EM SPACE',
  0x2006: 'SIX-PER-EM SPACE',
  0x2007: 'FIGURE SPACE',
  0x2008: 'PUNCTUATION SPACE',
  0x2009: 'THIN SPACE',
  0x200a: 'HAIR SPACE',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x202f: 'NARROW NO-BREAK SPACE',
  0x205f: 'MEDIUM MATHEMATICAL SPACE',
  0x2060: 'WORD JOINER',
  0x2061: 'FUNCTION APPLICATION',
  0x2062: 'INVISIBLE TIMES',
  0x2063: 'INVISIBLE SEPARATOR',
  0x2064: 'INVISIBLE PLUS',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0x2800: 'BRAILLE PATTERN BLANK',
  0x3000: 'IDEOGRAPHIC SPACE',
  0x3164: 'HANGUL FILLER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE (byte order mark)',
  0xffa0: 'HALFWIDTH HANGUL FILLER',
  0xe0001: 'LANGUAGE TAG',
  0xe007f: 'CANCEL TAG',
};

/** Bidirectional controls: they reorder the text around them. */
const BIDI = new Set([0x61c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);

// Controls (but tab, newline, CR), format characters (zero-width, bidi, BOM, tags, ...), line and
// paragraph separators, spaces that are not U+0020, fillers and variation selectors.
const SUSPECT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2000-\u200a\u202f\u205f\u2800\u3000\u3164\ufe00-\ufe0f\uffa0\u{e0100}-\u{e01ef}]/gu;
const EMOJI = /\p{Extended_Pictographic}|\p{Emoji_Modifier}/u;
const EMOJI_BASE = /\p{Emoji}/u;
const TAG_FIRST = 0xe0000;
const TAG_LAST = 0xe007f;
const BLACK_FLAG = 0x1f3f4;

const hex = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** The character's name, as the mark's title says it. */
export function invisibleName(cp: number): string {
  const known = NAMES[cp];
  if (known) return known;
  if (cp >= 0xfe00 && cp <= 0xfe0f) return `VARIATION SELECTOR-${cp - 0xfe00 + 1}`;
  if (cp >= 0xe0100 && cp <= 0xe01ef) return `VARIATION SELECTOR-${cp - 0xe0100 + 17}`;
  if (cp >= 0x180b && cp <= 0x180f) return `MONGOLIAN FREE VARIATION SELECTOR ${cp === 0x180f ? 4 : cp - 0x180b + 1}`;
  if (cp >= 0xe0020 && cp < 0xe007f) return `TAG ${String.fromCodePoint(cp - TAG_FIRST)}`;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 'control character';
  return 'invisible format character';
}

function describe(cp: number): { title: string; bidi: boolean } {
  const bidi = BIDI.has(cp);
  const what = bidi ? 'a bidirectional control: it reorders the text around it' : cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ? 'a control character' : /space|filler|blank/i.test(invisibleName(cp)) ? 'it looks like a space but is not U+0020' : 'an invisible character';
  return { title: `${hex(cp)} ${invisibleName(cp)}: ${what}`, bidi };
}

/** The code point that ends just before `at` (a surrogate pair counts as one). */
function cpBefore(text: string, at: number): number {
  if (at <= 0) return 0;
  const low = text.charCodeAt(at - 1);
  return at >= 2 && low >= 0xdc00 && low <= 0xdfff ? (text.codePointAt(at - 2) ?? 0) : low;
}

/** Whether a joiner or variation selector is part of an emoji sequence (VS Code leaves those). */
function inEmoji(text: string, at: number, cp: number, len: number): boolean {
  const before = String.fromCodePoint(cpBefore(text, at));
  const after = String.fromCodePoint(text.codePointAt(at + len) ?? 0);
  if (cp === 0xfe0f || cp === 0xfe0e) return EMOJI_BASE.test(before);
  if (cp === 0x200d) return (EMOJI.test(before) || before === '\ufe0f') && EMOJI.test(after);
  return false;
}

/**
 * Splits text into ordinary runs and marks, in logical order (the order of the characters, not
 * the order a bidi control would show them in). Tab, newline and CR are ordinary; a run of TAG
 * characters is one mark that spells out what it hides, except in an emoji flag sequence.
 */
export function splitInvisibles(text: string): TextPiece[] {
  SUSPECT.lastIndex = 0;
  if (!SUSPECT.test(text)) return text ? [{ text }] : [];
  const out: TextPiece[] = [];
  let plain = 0;
  SUSPECT.lastIndex = 0;
  for (let m = SUSPECT.exec(text); m !== null; m = SUSPECT.exec(text)) {
    const at = m.index;
    const cp = m[0].codePointAt(0) ?? 0;
    if (cp === 0x09 || cp === 0x0a || cp === 0x0d) continue;
    let end = at + m[0].length;
    if (inEmoji(text, at, cp, m[0].length)) continue;
    if (cp >= TAG_FIRST && cp <= TAG_LAST) {
      // One mark for the whole run of tags; a flag (U+1F3F4 then tags) is an emoji.
      while (end < text.length) {
        const next = text.codePointAt(end) ?? 0;
        if (next < TAG_FIRST || next > TAG_LAST) break;
        end += 2;
      }
      const flag = cpBefore(text, at) === BLACK_FLAG;
      SUSPECT.lastIndex = end;
      if (flag) continue;
      if (at > plain) out.push({ text: text.slice(plain, at) });
      const chars = [...text.slice(at, end)].map((c) => c.codePointAt(0) ?? 0);
      const spelled = chars.filter((c) => c >= 0xe0020 && c < 0xe007f).map((c) => String.fromCodePoint(c - TAG_FIRST)).join('');
      out.push(
        chars.length === 1
          ? { mark: text.slice(at, end), label: hex(cp), ...describe(cp) }
          : { mark: text.slice(at, end), label: `TAG×${chars.length} "${spelled}"`, title: `${chars.length} invisible TAG characters (${hex(chars[0] ?? 0)}…${hex(chars[chars.length - 1] ?? 0)}) spelling "${spelled}"`, bidi: false },
      );
      plain = end;
      continue;
    }
    if (at > plain) out.push({ text: text.slice(plain, at) });
    out.push({ mark: m[0], label: hex(cp), ...describe(cp) });
    plain = end;
  }
  if (plain < text.length) out.push({ text: text.slice(plain) });
  return out;
}

/** Text with each mark written out as `[U+202E]`, for places that show plain text only. */
export function markedText(text: string): string {
  return splitInvisibles(text)
    .map((p) => ('mark' in p ? `[${p.label}]` : p.text))
    .join('');
}

/** What each distinct mark in the text is ("U+202E RIGHT-TO-LEFT OVERRIDE: a bidirectional …"). */
export function invisibleTitles(text: string): string[] {
  return [...new Set(splitInvisibles(text).flatMap((p) => ('mark' in p ? [p.title] : [])))];
}
