// One writer per SQLite file under `serve --workers N`: the cluster primary.
//
// With a writer thread in each worker process (writer-thread.ts), the threads
// took turns at SQLite's single write lock, and one that found it taken could
// only try again later (SQLite offers no wait that wakes when the lock is
// free): profiled under refresh-with-rotation load, two workers kept the two
// cores about half busy, and their commits, a fraction of a millisecond each
// on this disk, waited milliseconds for each other. The primary, which serves
// no requests, commits for all of them instead, so the lock is never
// contended among them; each worker sends the writes of one turn as one IPC
// message, and is answered once they are committed. Reads stay in the workers.
import cluster, { type Worker } from 'node:cluster';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { StorageUnavailableError } from '../../errors.js';
import type { Database } from '../schema.js';
import { tune, walIndexFault } from './files.js';
import { writeSpecs } from './prepared.js';
import { SqliteWrites } from './statements.js';
import { answering, type Call, type Connect, type FromWriter, type ToWriter } from './writer-thread.js';

/** The key of latchkey's write messages among the cluster's other IPC messages. */
const TAG = 'latchkey:sqlite-writes';

type Envelope<M> = { [TAG]: M };

function unwrap<M>(m: unknown): M | undefined {
  return typeof m === 'object' && m !== null && TAG in m ? (m as Envelope<M>)[TAG] : undefined;
}

/** In a worker process: the link to the primary's writer. */
export const primaryLink: Connect = (answers, lost) => {
  const onMessage = (m: unknown) => {
    const e = unwrap<FromWriter>(m);
    if (e?.kind === 'answers') answers(e.answers);
  };
  const detach = () => {
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  };
  const gone = (why: string) => {
    detach();
    lost(new Error(why));
  };
  const onDisconnect = () => gone('the cluster primary, which commits the SQLite writes, is gone');
  process.on('message', onMessage);
  process.once('disconnect', onDisconnect);
  return {
    post: (m: ToWriter) => {
      if (!process.send) return gone('not a cluster worker: no primary to commit the SQLite writes');
      process.send({ [TAG]: m } satisfies Envelope<ToWriter>, undefined, undefined, (err: Error | null) => {
        if (err) gone(`the cluster primary, which commits the SQLite writes, cannot be reached: ${err.message}`);
      });
    },
    hold: () => {}, // the IPC channel keeps a worker alive
    close: () => {
      detach();
      return Promise.resolve();
    },
  };
};

/**
 * In the primary: commits the workers' writes on one connection to `file` (a
 * migrated database). Returns how to stop, once the workers are gone.
 */
export function hostPrimaryWrites(file: string): () => void {
  const db = new SQLite(file);
  tune(db);
  const fault = walIndexFault(file);
  const writes = new SqliteWrites(db, writeSpecs(new Kysely<Database>({ dialect: new SqliteDialect({ database: db }) })), fault);
  const runs = new Map<number, (calls: Call[]) => void>();
  const runFor = (worker: Worker) => {
    let run = runs.get(worker.id);
    if (!run) {
      run = answering(writes, (answers) => {
        // A worker that went away is owed nothing; its requests went with it.
        if (worker.isConnected()) worker.send({ [TAG]: { kind: 'answers', answers } } satisfies Envelope<FromWriter>, undefined, () => {});
      });
      runs.set(worker.id, run);
    }
    return run;
  };
  const onMessage = (worker: Worker, m: unknown) => {
    const e = unwrap<ToWriter>(m);
    if (e?.kind === 'calls') runFor(worker)(e.calls);
  };
  const onExit = (worker: Worker) => runs.delete(worker.id);
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
    const faulted = fault();
    writes.end(new StorageUnavailableError(faulted ?? new Error('storage is closed')));
    // A faulted file is not touched again: closing would checkpoint through its map.
    if (!faulted) db.close();
  };
}
