/**
 * The one rule for errors that come out of the engine. A TypeError from a binding means TypeScript
 * passed the wrong kind of argument: a bug, rethrown as it is (with its stack). Every other error
 * is about the input (a file the engine cannot read, a config it refuses, a value out of range)
 * and becomes a UserError, prefixed with what the caller was working on (a file, a config).
 * (Errors are recognised by name, not instanceof: the addon's errors may come from another realm.)
 */
import { UserError } from '../util/errors';

function convert(e: unknown, context?: string): unknown {
  if (typeof e !== 'object' || e === null || !('message' in e)) return e;
  const { name, message } = e as Error;
  if (name === 'TypeError' || name === 'UserError') return e;
  return new UserError(context ? `${context}: ${message}` : message);
}

export function engineCall<T>(fn: () => T, context?: string): T {
  try {
    return fn();
  } catch (e) {
    throw convert(e, context);
  }
}

/** engineCall for the asynchronous passes: a rejected promise follows the same rule. */
export async function engineCallAsync<T>(fn: () => Promise<T>, context?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw convert(e, context);
  }
}
