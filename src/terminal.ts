/**
 * Text from files and users (layer names, class folders, file names, run labels) made safe to
 * print on a terminal. A name may carry escape sequences (ESC [2J clears the screen, ESC ] 0;...
 * BEL retitles the window, OSC 52 writes the clipboard) or bidirectional overrides that make text
 * read differently from what it is; printed raw, a hostile file would drive the user's terminal.
 * Every C0/C1 control character and every bidi control is written as a visible escape (\x1b,
 * \u202e) instead, so the name stays recognisable and does nothing.
 */

// C0 controls but \t and \n (kept when `keepNewlines`), DEL, C1 controls, bidi embeddings,
// overrides and isolates (U+202A-202E, U+2066-2069) and the line/paragraph separators.
const UNSAFE_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with its control characters written as escapes; `keepNewlines` keeps \n and \t (multi-line messages). */
export function terminalSafe(text: string, opts: { keepNewlines?: boolean } = {}): string {
  return text.replace(opts.keepNewlines ? UNSAFE_BUT_LINES : UNSAFE_ALL, visible);
}
