// SQLite's change feed: PRAGMA data_version, polled. It moves when another
// connection (another worker process) commits, so cached users are dropped
// within one interval of another process changing them.
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { ChangeFeed } from '../base.js';

export function dataVersionFeed(sqlite: SQLiteDatabase, intervalMs: number): ChangeFeed {
  return ({ changed, live }) => {
    const version = sqlite.prepare('PRAGMA data_version').pluck();
    let last = version.get();
    const timer = setInterval(() => {
      try {
        const now = version.get();
        if (now !== last) {
          last = now;
          changed();
        }
      } catch {
        live(false);
        changed();
      }
    }, intervalMs);
    timer.unref();
    live(true);
    return () => clearInterval(timer);
  };
}
