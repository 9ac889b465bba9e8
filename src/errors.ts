/**
 * The base of errors the person running Quell can fix: a bad setting, a missing tool, a malformed playbook, a
 * key that cannot be read. Their message says what is wrong and what to do; the CLI prints it without a stack
 * trace and exits 2. Subclasses name the part of Quell that refused.
 */
export class UserFixableError extends Error {}
