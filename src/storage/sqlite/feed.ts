// SQLite's change feed: PRAGMA data_version, polled. It moves when another
// connection (another worker process) commits, so cached users are dropped
// within one interval of another process changing them.
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { ChangeFeed } from '../base.js';

export function dataVersionFeed(sqlite: SQLiteDatabase, intervalMs: number, fault: () => Error | undefined = () => undefined): ChangeFeed {
  return ({ changed, live }) => {
    const version = sqlite.prepare('PRAGMA data_version').pluck();
    let last = version.get();
    let down = false;
    const timer = setInterval(() => {
      try {
        // Not while the database must not be touched (SqliteStorage.fault): then nothing is cached.
        if (fault()) throw new Error('database files not writable');
        const now = version.get();
        if (now !== last || down) {
          last = now;
          changed();
        }
        if (down) live(true);
        down = false;
      } catch {
        down = true;
        live(false);
        changed();
      }
    }, intervalMs);
    timer.unref();
    live(true);
    return () => clearInterval(timer);
  };
}
