/**
 * CSV cells that a spreadsheet will not run as formulas (OWASP, "CSV Injection"): a text cell
 * starting with =, +, -, @, a tab or a carriage return gets a leading single quote, so a run label,
 * group or layer name read from a file cannot become `=HYPERLINK(...)` or `=cmd|...` in the
 * user's spreadsheet. Text that reads as a number (-0.5, +1e-3, -inf) is left alone: it is data,
 * and a spreadsheet treats it as a number, not a formula.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|infinity|nan)$/i;

export function csvSafeCell(text: string): string {
  return FORMULA_START.test(text) && !NUMBER.test(text) ? `'${text}` : text;
}
