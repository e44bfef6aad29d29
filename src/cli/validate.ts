/** Option checks shared by the commands. */
import { UserError } from '../util/errors';

/** Throws naming the flag (--kebab-case) of the first option that is not a positive integer. */
export function requirePositiveIntegers<K extends string>(args: Record<K, unknown>, keys: readonly K[]): void {
  for (const k of keys) {
    const v = args[k];
    if (!Number.isInteger(v) || (v as number) < 1)
      throw new UserError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be a positive integer`);
  }
}
