// PostgreSQL's change feed: LISTEN on one channel, on a client of its own
// (outside the pool), reconnecting after a second when the connection drops.
// Every instance's user changes NOTIFY the channel (postgres/storage.ts).
import type pg from 'pg';
import type { ChangeFeed } from '../base.js';

export const USER_CHANNEL = 'latchkey_users';

export function notifyFeed(connectClient: () => pg.Client): ChangeFeed {
  return ({ changed, live }) => {
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    // A client being let go keeps a no-op error listener: the server may still
    // terminate it (a restart, DROP DATABASE ... FORCE), and an 'error' event
    // with no listener would crash the process.
    const dispose = (c: pg.Client | undefined) => {
      if (!c) return;
      c.removeAllListeners();
      c.on('error', () => {});
      c.end().catch(() => {});
    };
    let stopped = false;
    const down = () => {
      live(false);
      changed();
      dispose(client);
      client = undefined;
      if (!stopped && !retry) {
        retry = setTimeout(() => {
          retry = undefined;
          connect();
        }, 1_000);
        retry.unref();
      }
    };
    const connect = () => {
      const c = connectClient();
      client = c;
      c.on('error', down);
      c.on('end', down);
      c.on('notification', (msg) => changed(msg.payload ? Number(msg.payload) : undefined));
      c.connect()
        .then(() => c.query(`LISTEN ${USER_CHANNEL}`))
        .then(() => {
          changed(); // changes made while not listening
          live(true);
        }, down);
    };
    connect();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      live(false);
      dispose(client);
    };
  };
}
