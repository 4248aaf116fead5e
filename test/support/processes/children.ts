/**
 * Child processes for the cross-process tests (test/e2e/processes.test.ts): every party is `node <script> …`,
 * spawned with its output collected, awaited by a predicate on that output with a bounded timeout, and stopped by
 * the `ChildProcesses` that started it — SIGTERM, then SIGKILL after a grace period — so that no process outlives
 * the test file, even when a test fails (the `exit` hook kills what `stopAll` did not reach).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export type Stream = 'stdout' | 'stderr';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Everything the child wrote to `stream` so far. */
  output(stream: Stream): string;
  /**
   * Resolves with the first non-undefined result of `check(output)`, re-checked on every write; rejects when the
   * child exits first or after `timeoutMs`, quoting the end of the output (personal and admin tokens masked).
   */
  waitFor<T>(stream: Stream, check: (text: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** How the process exited; rejects after `timeoutMs` (the process is left running for `stop`). */
  waitForExit(timeoutMs: number): Promise<Exit>;
  /** Whether the process has exited. */
  hasExited(): boolean;
}

export interface Completed extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

export interface SpawnOptions {
  /** Added to the base environment of every child. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ChildProcesses {
  /** Starts `node <script> ...args` (script and args as given). */
  start(name: string, script: string, args: readonly string[], options?: SpawnOptions): Child;
  /** Runs `node <script> ...args` to its end; killed (and rejected) after `timeoutMs`. */
  run(name: string, script: string, args: readonly string[], timeoutMs: number, options?: SpawnOptions): Promise<Completed>;
  /** The children started so far that have not exited, in start order. */
  running(): Child[];
  /** SIGTERM to `child`, SIGKILL after `graceMs`; resolves with how it exited. */
  stop(child: Child, graceMs?: number): Promise<Exit>;
  /** Stops every child still running (in parallel) and removes the exit hook. */
  stopAll(graceMs?: number): Promise<void>;
}

/** Masks personal API tokens (`tsr_…`), admin tokens (`tsa_…`) and JWTs in diagnostics. */
export const maskSecrets = (text: string): string =>
  text.replace(/\b(tsr|tsa)_[A-Za-z0-9_-]{8,}/g, '$1_…').replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, 'eyJ…');

const tail = (text: string): string => maskSecrets(text.length > 3000 ? `…${text.slice(-3000)}` : text);

/**
 * A supervisor of child processes. `baseEnv` is the whole environment of every child (plus `SpawnOptions.env`):
 * pass a minimal one so the children do not pick up the developer's `TESSERA_*` settings or home directory.
 */
export function childProcesses(baseEnv: Readonly<Record<string, string>>, cwd: string): ChildProcesses {
  const children: Child[] = [];

  const killRemaining = (): void => {
    for (const child of children) if (!child.hasExited()) child.process.kill('SIGKILL');
  };
  process.once('exit', killRemaining);

  function start(name: string, script: string, args: readonly string[], options: SpawnOptions = {}): Child {
    // stdin stays an open pipe: a child that watches it (upstream.mjs) ends when this process goes away.
    const proc = spawn(process.execPath, [script, ...args], { cwd, env: { ...baseEnv, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const text: Record<Stream, string> = { stdout: '', stderr: '' };
    const listeners = new Set<() => void>();
    let exit: Exit | undefined;
    const exited = new Promise<Exit>((resolve) => {
      // `close`, not `exit`: by then the child's stdout and stderr are read to their end.
      proc.once('close', (code, signal) => {
        exit = { code, signal };
        resolve(exit);
        for (const notify of [...listeners]) notify();
      });
      proc.once('error', () => {
        exit = { code: null, signal: null };
        resolve(exit);
        for (const notify of [...listeners]) notify();
      });
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      proc[stream].setEncoding('utf8');
      proc[stream].on('data', (chunk: string) => {
        text[stream] += chunk;
        for (const notify of [...listeners]) notify();
      });
    }
    proc.stdin.on('error', () => undefined); // EPIPE when the child has gone

    const child: Child = {
      name,
      process: proc,
      output: (stream) => text[stream],
      exited,
      hasExited: () => exit !== undefined,
      waitForExit(timeoutMs: number): Promise<Exit> {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${name}: still running after ${timeoutMs} ms\n--- stderr ---\n${tail(text.stderr)}`)), timeoutMs);
        });
        return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
      },
      waitFor<T>(stream: Stream, check: (output: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
        return new Promise<T>((resolve, reject) => {
          const done = (): void => {
            clearTimeout(timer);
            listeners.delete(notify);
          };
          const fail = (why: string): void => {
            done();
            const stderr = stream === 'stderr' ? '' : `\n--- stderr ---\n${tail(text.stderr)}`;
            reject(new Error(`${name}: ${why} while waiting for ${what}\n--- ${stream} ---\n${tail(text[stream])}${stderr}`));
          };
          const notify = (): void => {
            const found = check(text[stream]);
            if (found !== undefined) {
              done();
              resolve(found);
            } else if (exit !== undefined) fail(`exited (code ${String(exit.code)}, signal ${String(exit.signal)})`);
          };
          const timer = setTimeout(() => fail(`no answer in ${timeoutMs} ms`), timeoutMs);
          listeners.add(notify);
          notify();
        });
      },
    };
    children.push(child);
    return child;
  }

  async function stop(child: Child, graceMs = 5000): Promise<Exit> {
    if (child.hasExited()) return child.exited;
    child.process.kill('SIGTERM');
    const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
    try {
      return await child.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    start,
    async run(name, script, args, timeoutMs, options) {
      const child = start(name, script, args, options);
      const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
      const exit = await child.exited;
      clearTimeout(timer);
      if (exit.signal === 'SIGKILL') throw new Error(`${name}: killed after ${timeoutMs} ms\n--- stderr ---\n${tail(child.output('stderr'))}`);
      return { ...exit, stdout: child.output('stdout'), stderr: child.output('stderr') };
    },
    running: () => children.filter((child) => !child.hasExited()),
    stop,
    async stopAll(graceMs = 5000) {
      await Promise.all(children.map((child) => stop(child, graceMs)));
      process.off('exit', killRemaining);
    },
  };
}
