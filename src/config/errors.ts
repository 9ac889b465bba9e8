import { UserFixableError } from '../errors';

/** Thrown when the environment does not describe a valid Quell configuration. */
export class ConfigError extends UserFixableError {
  override readonly name = 'ConfigError';
}
