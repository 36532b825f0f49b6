/**
 * Errors a user can cause (a bad file, a bad config value, a missing dataset).
 *
 * The CLI prints `message` alone, with no stack trace, and exits with `exitCode`.
 * The message must name the file or field at fault and say what was expected.
 */
export class UserError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** Builds a UserError about one file: "<file>: <problem>". */
export function fileError(file: string, problem: string): UserError {
  return new UserError(`${file}: ${problem}`);
}
