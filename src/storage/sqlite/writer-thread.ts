// Writes that another thread or process commits (RemoteWrites), and the
// writer thread: on a SQLite file, the fast path's writes (statements.ts) run
// on a connection of their own in a worker thread, not on the event loop.
// (Under `serve --workers N` the writer is the cluster primary instead:
// primary-writer.ts.)
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
// The calls go to the writer in messages, at most MAX_IN_FLIGHT unanswered;
// the writer group-commits what arrives together (group-commit.ts) and
// answers each message once, whole. Reads stay on the event loop's connection
// (WAL lets them run beside the writer). If the writer is lost, the calls it
// had fail with StorageUnavailableError (503) and the next write starts a new
// one.
import { Worker } from 'node:worker_threads';
import { StorageUnavailableError } from '../../errors.js';
import type { ChangeFeed } from '../base.js';
import type { Writes } from '../writes.js';
import type { SqliteWrites, WriteSpecs } from './statements.js';

/** What the thread is started with. */
export interface WriterData {
  /** The database file, resolved. */
  file: string;
  specs: WriteSpecs;
  /** How often the thread polls data_version for other connections' commits (writerFeed). */
  feedIntervalMs: number;
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
export type FromWriter = { kind: 'answers'; answers: Answer[] } | { kind: 'changed' } | { kind: 'live'; on: boolean };

/** What the writer thread tells of other connections' commits (writerFeed). */
export interface WriterEvents {
  changed(): void;
  live(on: boolean): void;
}

/** Messages to the writer unanswered at once (see RemoteWrites.send). */
const MAX_IN_FLIGHT = 2;

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

/**
 * The way to a writer: what RemoteWrites sends through. A link is made when
 * the first write needs it, and again after the writer was lost.
 */
export interface Link {
  post(m: ToWriter): void;
  /** Whether the process must stay alive for the answers owed (a command-line run waits for them). */
  hold(on: boolean): void;
  /** Nothing more will be sent: the writer may stop. Resolves once it has. */
  close(): Promise<void>;
}

/** Makes a link; the writer's answers go to `answers`, and `lost` says that it is gone. */
export type Connect = (answers: (a: Answer[]) => void, lost: (why: Error) => void) => Link;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Sent to the writer (else still in RemoteWrites.calls). */
  sent: boolean;
}

/** Writes that another thread or process commits: the calls of one turn go as one message. */
export class RemoteWrites implements Writes {
  private link: Link | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private calls: Call[] = [];
  private scheduled = false;
  /** Messages sent and not yet answered (the writer answers each message once, whole). */
  private inFlight = 0;
  private ending: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  /**
   * With `startNow`, the writer starts at once rather than with the first
   * write: a thread takes tens of milliseconds of CPU to start, which a server
   * spends at startup rather than in its first burst of logins.
   */
  constructor(
    private readonly connect: Connect,
    startNow = false,
  ) {
    if (startNow) this.linked().hold(false);
  }

  /** The link, made if there is none (the first write, or the first after the writer was lost). */
  private linked(): Link {
    const link = (this.link ??= this.connect(
      (answers) => this.settle(link, answers),
      (why) => this.lost(link, why),
    ));
    return link;
  }

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

  /** Sends what was already called and waits for its answers (the writer commits it), then lets the writer go; later calls are refused. */
  end(err: Error): Promise<void> {
    if (this.ending) return this.ending;
    this.send();
    const drained = this.waiting.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.drained = resolve));
    this.ending = drained.then(() => this.link?.close()).then(() => this.failAll(err));
    return this.ending;
  }

  private call(c: Call): Promise<unknown> {
    if (this.ending) return Promise.reject(new StorageUnavailableError(new Error('storage is closed')));
    return new Promise((resolve, reject) => {
      c[0] = this.nextId++;
      this.waiting.set(c[0], { resolve, reject, sent: false });
      this.calls.push(c);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.send);
      }
    });
  }

  /**
   * Sends the calls waiting as one message, unless MAX_IN_FLIGHT messages are
   * still unanswered: then they wait for the first of those answers, and go
   * with whatever else has come by then. Under load a message takes the calls
   * of several turns, so that each costs the event loop less (a message is a
   * clone and a wake-up of the writer) and a commit takes more.
   */
  private readonly send = (): void => {
    this.scheduled = false;
    if (this.calls.length === 0 || this.inFlight >= MAX_IN_FLIGHT) return;
    const calls = this.calls;
    this.calls = [];
    const link = this.linked();
    for (const c of calls) this.waiting.get(c[0])!.sent = true;
    link.hold(true);
    this.inFlight++;
    link.post({ kind: 'calls', calls });
  };

  private lost(link: Link, why: Error): void {
    if (this.link !== link) return;
    this.link = undefined;
    this.inFlight = 0;
    // What the writer had may or may not be committed: its callers hear of an
    // outage. What was not sent yet goes to the next writer.
    const err = new StorageUnavailableError(why);
    for (const [id, w] of this.waiting) {
      if (!w.sent) continue;
      this.waiting.delete(id);
      w.reject(err);
    }
    if (this.waiting.size === 0) this.idle();
    this.send();
  }

  /** The answers to one message. */
  private settle(link: Link, answers: Answer[]): void {
    if (this.link !== link) return;
    this.inFlight--;
    for (const a of answers) {
      const w = this.waiting.get(a[0]);
      if (!w) continue;
      this.waiting.delete(a[0]);
      if (a[1]) w.resolve(a[2]);
      else w.reject(fromWire(a[2]));
    }
    if (this.waiting.size === 0) this.idle();
    this.send();
  }

  private failAll(err: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(err);
    this.idle();
  }

  private idle(): void {
    if (!this.ending) this.link?.hold(false);
    this.drained?.();
  }
}

/**
 * The storage's change feed when a writer thread commits its writes. The
 * event loop's connection sees the thread's commits as another connection's:
 * its data_version moved with every login and refresh, and every move dropped
 * the cached users (every 25 ms under load, so the protected GET read its user
 * again and again). The thread's own connection does not see its own commits,
 * only those of other processes and of the event loop's connection, which are
 * the ones that can change a user; so the thread polls data_version and says
 * when it moved (writer-worker.ts). While no thread says so (before its first
 * poll, after it was lost), nothing is cached.
 */
export function writerFeed(): { feed: ChangeFeed; events: WriterEvents } {
  let listener: Parameters<ChangeFeed>[0] | undefined;
  let on = false;
  return {
    feed: (l) => {
      listener = l;
      l.live(on);
      return () => {
        listener = undefined;
      };
    },
    events: {
      changed: () => listener?.changed(),
      live: (now) => {
        on = now;
        listener?.changed();
        listener?.live(now);
      },
    },
  };
}

/** A writer thread on `data.file` (writer-worker.ts); what it sees of other connections goes to `events`. */
export const threadLink =
  (data: WriterData, events?: WriterEvents): Connect =>
  (answers, lost) => {
    const worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: data satisfies WriterData,
      resourceLimits: RESOURCE_LIMITS,
    });
    let closing = false;
    worker.on('message', (m: FromWriter) => {
      if (m.kind === 'answers') answers(m.answers);
      else if (m.kind === 'changed') events?.changed();
      else events?.live(m.on);
    });
    worker.on('error', lost);
    worker.on('exit', (code) => {
      events?.live(false);
      if (!closing) lost(new Error(`the SQLite writer thread stopped (exit code ${code})`));
    });
    return Object.assign(
      {
        post: (m: ToWriter) => worker.postMessage(m),
        hold: (on: boolean) => (on ? worker.ref() : worker.unref()),
        close: () =>
          new Promise<void>((resolve) => {
            closing = true;
            worker.ref();
            worker.once('exit', () => resolve());
            worker.postMessage({ kind: 'end' } satisfies ToWriter);
          }),
      },
      { worker }, // for the tests, which stop it
    );
  };

/**
 * Runs the calls of each message that arrives on `writes`, and answers the
 * message once, whole, when all of its calls are settled (RemoteWrites counts
 * the messages it has in flight by their answers).
 */
export function answering(writes: SqliteWrites, post: (answers: Answer[]) => void): (calls: Call[]) => void {
  const run = (c: Call): Promise<Answer> => {
    let done: Promise<unknown>;
    try {
      done = (writes[c[1]] as (...args: unknown[]) => Promise<unknown>)(...c[2]);
    } catch (err) {
      return Promise.resolve([c[0], false, toWire(err)]);
    }
    return done.then(
      (value): Answer => [c[0], true, value],
      (err: unknown): Answer => [c[0], false, toWire(err)],
    );
  };
  return (calls) => {
    void Promise.all(calls.map(run)).then(post);
  };
}
