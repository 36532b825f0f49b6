/** The library's public entry point. */
export { UserError } from './errors.js';
