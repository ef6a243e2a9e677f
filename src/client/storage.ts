// Token storage is pluggable. A storage that several clients share (tabs
// sharing localStorage, clients sharing one memoryStorage) should also offer
// `lock`, so that only one of them refreshes at a time: with a rotating preset,
// two refreshes of one refresh token revoke the whole login.

export interface Tokens {
  access: string;
  refresh: string;
}

export interface TokenStorage {
  get(): Promise<Tokens | null> | Tokens | null;
  set(tokens: Tokens | null): Promise<void> | void;
  /**
   * Optional: run `fn` while holding a lock shared by every client that uses
   * this storage. The client takes it around each refresh, login and logout,
   * and re-reads the storage inside it.
   */
  lock?<T>(fn: () => Promise<T>): Promise<T>;
}

/** A promise-chain mutex: callers run one at a time, in call order. */
export function createMutex(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
}

function isTokens(v: unknown): v is Tokens {
  return v !== null && typeof v === 'object' && typeof (v as Tokens).access === 'string' && typeof (v as Tokens).refresh === 'string';
}

/** Tokens in memory. Clients sharing one memoryStorage share its tokens and its refresh lock. */
export function memoryStorage(initial: Tokens | null = null): TokenStorage {
  let tokens = initial ? { ...initial } : null;
  const lock = createMutex();
  return {
    get: () => (tokens ? { ...tokens } : null),
    set: (t) => {
      tokens = t ? { access: t.access, refresh: t.refresh } : null;
    },
    lock,
  };
}

/** The subset of the Web Storage API used here (localStorage, sessionStorage, or a stand-in). */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

function webLocks(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks && typeof nav.locks.request === 'function' ? nav.locks : undefined;
}

/**
 * Tokens in a Web Storage object under `key`, as JSON. Refreshes are
 * serialized across tabs with the Web Locks API where the browser has it, and
 * within this page otherwise.
 */
export function webStorage(store: WebStorageLike, key = 'latchkey.tokens'): TokenStorage {
  const local = createMutex();
  return {
    get() {
      const raw = store.getItem(key);
      if (raw === null) return null;
      try {
        const parsed: unknown = JSON.parse(raw);
        return isTokens(parsed) ? { access: parsed.access, refresh: parsed.refresh } : null;
      } catch {
        return null;
      }
    },
    set(t) {
      if (t) store.setItem(key, JSON.stringify({ access: t.access, refresh: t.refresh }));
      else store.removeItem(key);
    },
    lock<T>(fn: () => Promise<T>): Promise<T> {
      const locks = webLocks();
      return locks ? locks.request(`latchkey:${key}`, fn) : local(fn);
    },
  };
}

/** Tokens in the browser's `localStorage` under `key`. */
export function localStorageStorage(key = 'latchkey.tokens'): TokenStorage {
  const store = (globalThis as { localStorage?: WebStorageLike }).localStorage;
  if (!store) throw new Error('localStorageStorage: localStorage is not available in this environment');
  return webStorage(store, key);
}
