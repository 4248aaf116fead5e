/** Shared assertions for the protocol tests: every failure must be a typed `AAuthError`. */
import { expect } from 'vitest';
import { AAuthError } from '../src/errors.js';

/** The `code` of the AAuthError `fn` throws, or undefined when it returns. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
}

/** The AAuthError `promise` rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<AAuthError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return error as AAuthError;
  }
  throw new Error('expected a rejection');
}
