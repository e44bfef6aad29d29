/**
 * The one numeric-option layer of the commands: every number a flag carries is checked here
 * (finite, integer where needed, in range) before anything reads or writes, so no NaN or infinity
 * reaches a kernel, a sidecar or a checkpoint. Messages name the flag: `--warmup must be ...`.
 */
import { UserError } from './errors';

export interface NumberRule {
  integer?: boolean;
  min?: number;
  /** min itself is not allowed */
  minExclusive?: boolean;
  max?: number;
  maxExclusive?: boolean;
  /** how messages name the rule, where the bounds would read worse */
  name?: string;
}

export const POSITIVE_INTEGER: NumberRule = { integer: true, min: 1, name: 'a positive integer' };
export const NON_NEGATIVE_INTEGER: NumberRule = { integer: true, min: 0 };
export const POSITIVE: NumberRule = { min: 0, minExclusive: true };
export const NON_NEGATIVE: NumberRule = { min: 0 };
/** [0, 1) */
export const UNIT_INTERVAL_OPEN: NumberRule = { min: 0, max: 1, maxExclusive: true };

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;

function describe(r: NumberRule): string {
  if (r.name) return r.name;
  const kind = r.integer ? 'an integer' : 'a finite number';
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`${r.minExclusive ? '>' : '>='} ${r.min}`);
  if (r.max !== undefined) parts.push(`${r.maxExclusive ? '<' : '<='} ${r.max}`);
  return parts.length ? `${kind} ${parts.join(' and ')}` : kind;
}

/** Checks one value against a rule; the message names `flag`. */
export function checkNumber(v: unknown, flag: string, r: NumberRule): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!r.integer || Number.isInteger(v)) &&
    (r.min === undefined || (r.minExclusive ? v > r.min : v >= r.min)) &&
    (r.max === undefined || (r.maxExclusive ? v < r.max : v <= r.max));
  if (!ok) throw new UserError(`${flag} must be ${describe(r)}, got ${String(v)}`);
  return v as number;
}

/** Checks each named option (camelCase keys) against its rule; undefined values (unset optional flags) pass. */
export function checkNumbers(args: Record<string, unknown>, rules: Record<string, NumberRule>): void {
  for (const [key, r] of Object.entries(rules)) if (args[key] !== undefined) checkNumber(args[key], flagOf(key), r);
}

/** Throws naming the flag (--kebab-case) of the first option that is not a positive integer. */
export function requirePositiveIntegers<K extends string>(args: Record<K, unknown>, keys: readonly K[]): void {
  checkNumbers(args as Record<string, unknown>, Object.fromEntries(keys.map((k) => [k, POSITIVE_INTEGER])));
}
