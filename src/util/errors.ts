/**
 * Errors a user can act on (bad input, missing file, unknown name). The CLI prints their message
 * without a stack trace; library callers can catch them by class.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
