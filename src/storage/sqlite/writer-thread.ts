// The writer thread: on a SQLite file, the fast path's writes (statements.ts)
// run on a connection of their own in a worker thread, not on the event loop.
//
// Why: synchronous=FULL makes every commit wait for an fsync, and
// better-sqlite3 is synchronous, so a commit on the event loop's connection
// stopped the whole process for as long as the disk took: no request was
// parsed, no token signed, no finished hash handed its slot to the next login.
// Profiled under refresh-with-rotation load, two worker processes kept the
// two cores about half busy; the rest was commits and waits for the other
// process's write lock. Here the thread waits for the disk and for the lock,
// and the event loop goes on. Durability is unchanged: the thread's
// connection has the same settings (files.ts), and a caller is answered only
// after its write committed.
//
// The calls of one turn of the event loop go to the thread as one message; the
// thread group-commits what arrives together (group-commit.ts) and answers in
// one message per turn. Reads stay on the event loop's connection (WAL lets
// them run beside the writer). If the thread dies, what it had not answered
// fails with StorageUnavailableError (503) and the next write starts a new one.
import { Worker } from 'node:worker_threads';
import { StorageUnavailableError } from '../../errors.js';
import type { Writes } from '../writes.js';
import type { WriteSpecs } from './statements.js';

/** What the thread is started with. */
export interface WriterData {
  /** The database file, resolved. */
  file: string;
  specs: WriteSpecs;
}

/** The calls the thread runs: those of Writes, but end (a message of its own). */
export type WriteOp = Exclude<keyof Writes, 'end'>;

/** One call: its id, its operation and the operation's arguments. */
export type Call = { [K in WriteOp]: [number, K, Parameters<Writes[K]>] }[WriteOp];

/** An error as it crosses to the event loop: structured clone keeps no `code` nor class. */
export interface WireError {
  name: string;
  message: string;
  code?: string | undefined;
  cause?: { message: string; code?: string | undefined } | undefined;
}

/** One answer: the call's id, then its value, or its error. */
export type Answer = [number, true, unknown] | [number, false, WireError];

export type ToWriter = { kind: 'calls'; calls: Call[] } | { kind: 'end' };
export type FromWriter = { kind: 'answers'; answers: Answer[] } | { kind: 'ended' };

/** The thread needs little heap: compiled statements, and the calls in flight. */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 2 };

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** `err` as plain data: its name, message and code, and its cause's (the thread's side). */
export function toWire(err: unknown): WireError {
  const e = err as { name?: unknown; message?: unknown; cause?: unknown } | null;
  const cause = e?.cause;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : typeof err === 'string' ? err : 'unknown error',
    code: codeOf(err),
    cause:
      cause === undefined || cause === null
        ? undefined
        : { message: cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : 'unknown cause', code: codeOf(cause) },
  };
}

/** The error the thread reported, rebuilt: a driver error keeps its code, so db-errors.ts reads it as before. */
export function fromWire(w: WireError): Error {
  const cause = w.cause && Object.assign(new Error(w.cause.message), w.cause.code === undefined ? {} : { code: w.cause.code });
  if (w.name === 'StorageUnavailableError') return new StorageUnavailableError(cause);
  const err = new Error(w.message, cause ? { cause } : undefined);
  err.name = w.name;
  return w.code === undefined ? err : Object.assign(err, { code: w.code });
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class ThreadWrites implements Writes {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private calls: Call[] = [];
  private scheduled = false;
  private ending: Promise<void> | undefined;

  constructor(private readonly data: WriterData) {}

  blacklist(...args: Parameters<Writes['blacklist']>): Promise<boolean> {
    return this.call([0, 'blacklist', args]) as Promise<boolean>;
  }

  rotate(...args: Parameters<Writes['rotate']>): Promise<boolean> {
    return this.call([0, 'rotate', args]) as Promise<boolean>;
  }

  startSession(...args: Parameters<Writes['startSession']>): Promise<number> {
    return this.call([0, 'startSession', args]) as Promise<number>;
  }

  touchSession(...args: Parameters<Writes['touchSession']>): Promise<void> {
    return this.call([0, 'touchSession', args]) as Promise<void>;
  }

  flushBatch(...args: Parameters<Writes['flushBatch']>): Promise<number> {
    return this.call([0, 'flushBatch', args]) as Promise<number>;
  }

  /** Commits what was already called (the thread runs it, then closes its connection), and refuses what comes after. */
  end(err: Error): Promise<void> {
    if (this.ending) return this.ending;
    this.send();
    const worker = this.worker;
    if (!worker) {
      this.ending = Promise.resolve();
      return this.ending;
    }
    worker.ref();
    this.ending = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage({ kind: 'end' } satisfies ToWriter);
    }).then(() => this.failAll(err));
    return this.ending;
  }

  private call(c: Call): Promise<unknown> {
    if (this.ending) return Promise.reject(new StorageUnavailableError(new Error('storage is closed')));
    return new Promise((resolve, reject) => {
      c[0] = this.nextId++;
      this.waiting.set(c[0], { resolve, reject });
      this.calls.push(c);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.send);
      }
    });
  }

  /** Sends the calls of this turn as one message. */
  private readonly send = (): void => {
    this.scheduled = false;
    if (this.calls.length === 0) return;
    const calls = this.calls;
    this.calls = [];
    const worker = this.worker ?? this.start();
    // Kept alive while it owes answers (a command-line run waits for them), not after.
    worker.ref();
    worker.postMessage({ kind: 'calls', calls } satisfies ToWriter);
  };

  private start(): Worker {
    const worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: this.data satisfies WriterData,
      resourceLimits: RESOURCE_LIMITS,
    });
    worker.on('message', (m: FromWriter) => {
      if (m.kind === 'answers') this.settle(m.answers);
    });
    const lost = (why: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(new StorageUnavailableError(why));
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the SQLite writer thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle(answers: Answer[]): void {
    for (const a of answers) {
      const w = this.waiting.get(a[0]);
      if (!w) continue;
      this.waiting.delete(a[0]);
      if (a[1]) w.resolve(a[2]);
      else w.reject(fromWire(a[2]));
    }
    if (this.waiting.size === 0 && !this.ending) this.worker?.unref();
  }

  private failAll(err: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(err);
  }
}
