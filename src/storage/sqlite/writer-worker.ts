// The writer thread itself (writer-thread.ts says why it exists): one
// connection to the file, with the same settings as every other, running the
// fast path's writes in group commits and answering once they are committed.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { StorageUnavailableError } from '../../errors.js';
import { tune, walIndexFault } from './files.js';
import { SqliteWrites } from './statements.js';
import { toWire, type Answer, type Call, type FromWriter, type ToWriter, type WriterData } from './writer-thread.js';

/** How often a batch tries again for a write lock another process holds: here a wait blocks nothing else. */
const RETRY_MS = 1;

const port = parentPort!;
const { file, specs } = workerData as WriterData;
const db = new SQLite(file);
tune(db);
const fault = walIndexFault(file);
const writes = new SqliteWrites(db, specs, fault, RETRY_MS);

let answers: Answer[] = [];

/** Answers go back once per turn: the first one of a commit schedules the message that takes them all. */
function answer(a: Answer): void {
  answers.push(a);
  if (answers.length === 1) queueMicrotask(flushAnswers);
}

function flushAnswers(): void {
  if (answers.length === 0) return;
  port.postMessage({ kind: 'answers', answers } satisfies FromWriter);
  answers = [];
}

function run(c: Call): void {
  let done: Promise<unknown>;
  try {
    done = (writes[c[1]] as (...args: unknown[]) => Promise<unknown>)(...c[2]);
  } catch (err) {
    answer([c[0], false, toWire(err)]);
    return;
  }
  done.then(
    (value) => answer([c[0], true, value]),
    (err: unknown) => answer([c[0], false, toWire(err)]),
  );
}

port.on('message', (m: ToWriter) => {
  if (m.kind === 'calls') {
    for (const c of m.calls) run(c);
    return;
  }
  // The storage is closing: commit what waits, refuse the rest, and close the
  // connection, unless the files fault (then touching them could kill the process).
  const faulted = fault();
  writes.end(new StorageUnavailableError(faulted ?? new Error('storage is closed')));
  setImmediate(() => {
    flushAnswers();
    if (!faulted) db.close();
    port.postMessage({ kind: 'ended' } satisfies FromWriter);
    port.close();
  });
});
