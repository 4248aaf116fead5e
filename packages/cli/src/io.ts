import { readFile } from 'node:fs/promises';

/** Where a command writes; injected so commands run in-process in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly now: () => number;
}

/** A usage or input error: one clear line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads a file, or standard input for `-`. */
export async function readSource(path: string, io: CliIo): Promise<string> {
  if (path === '-') return io.readStdin();
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new UsageError(`cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`);
  }
}

/** A value given inline, or from a file when written `@FILE` (curl's convention). */
export async function inlineOrFile(value: string, io: CliIo): Promise<string> {
  return value.startsWith('@') ? readSource(value.slice(1), io) : value;
}

/** Parses JSON input, naming what it was on failure. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`${what} is not valid JSON`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a non-negative integer option. */
export function integerOption(value: string, name: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

export const json = (value: unknown): string => JSON.stringify(value, null, 2);
