// The writer thread itself (writer-thread.ts says why it exists): one
// connection to the file, with the same settings as every other, running the
// fast path's writes in group commits and answering once they are committed.
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { StorageUnavailableError } from '../../errors.js';
import { dataVersionFeed } from './feed.js';
import { tune, walIndexFault } from './files.js';
import { SqliteWrites } from './statements.js';
import { answering, type FromWriter, type ToWriter, type WriterData } from './writer-thread.js';

/** How often a batch tries again for a write lock another process holds: here a wait blocks nothing else. */
const RETRY_MS = 1;

const port = parentPort!;
const { file, specs, feedIntervalMs } = workerData as WriterData;
const db = new SQLite(file);
tune(db);
const fault = walIndexFault(file);
const writes = new SqliteWrites(db, specs, fault, RETRY_MS);
const run = answering(writes, (answers) => port.postMessage({ kind: 'answers', answers } satisfies FromWriter));

// The change feed (writerFeed): this connection's data_version moves when
// another connection commits, never for its own commits.
const stopFeed = dataVersionFeed(
  db,
  feedIntervalMs,
  fault,
)({
  changed: () => port.postMessage({ kind: 'changed' } satisfies FromWriter),
  live: (on) => port.postMessage({ kind: 'live', on } satisfies FromWriter),
});

port.on('message', (m: ToWriter) => {
  if (m.kind === 'calls') {
    run(m.calls);
    return;
  }
  // Nothing more will come (every call was answered): close the connection,
  // unless the files fault (then touching them could kill the process).
  const faulted = fault();
  stopFeed();
  writes.end(new StorageUnavailableError(faulted ?? new Error('storage is closed')));
  if (!faulted) db.close();
  port.close();
});
