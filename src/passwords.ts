// Password hashing: argon2id on libuv's thread pool (never the event loop),
// behind a queue that bounds how many hashes run at once, how many may wait,
// and how long they may wait. Past that, callers get HasherBusyError (a 503),
// so a login storm costs bounded memory and leaves other routes responsive.
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import PQueue from 'p-queue';
import { isDjangoEncoding, verifyDjangoPassword } from './django-hashers.js';
import { HasherBusyError } from './errors.js';

export interface HasherOptions {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  /** Hashes running at once. */
  concurrency: number;
  /** Hashes allowed to wait for a slot; more are refused at once. */
  maxQueue: number;
  /** How long a hash may wait for a slot before it is refused. */
  queueTimeoutMs: number;
}

export { HasherBusyError }; // defined with the other errors, which translate it (toApiError)

/** Longest password accepted anywhere, in characters; longer ones are refused before any hashing. */
export const MAX_PASSWORD_LENGTH = 1024;

/** Length in characters (code points), as Python and Django count it. */
export const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

export class PasswordHasher {
  private readonly queue: PQueue;
  private readonly params: { memoryCost: number; timeCost: number; parallelism: number; algorithm: Algorithm };
  private dummy: Promise<string> | undefined;

  constructor(private readonly o: HasherOptions) {
    this.queue = new PQueue({ concurrency: o.concurrency });
    this.params = {
      memoryCost: o.memoryCost,
      timeCost: o.timeCost,
      parallelism: o.parallelism,
      algorithm: 2 as Algorithm.Argon2id, // a const enum, which verbatimModuleSyntax cannot import
    };
  }

  /** Hashes waiting plus running: what the metrics call the hash queue depth. */
  get depth(): number {
    return this.queue.size + this.queue.pending;
  }

  private run<T>(task: () => Promise<T>): Promise<T> {
    if (this.queue.size >= this.o.maxQueue && this.queue.pending >= this.o.concurrency) {
      return Promise.reject(new HasherBusyError());
    }
    // The wait for a slot is bounded; the hash itself is not interrupted. (An
    // abort after the start would free the slot while argon2 kept the thread,
    // and the bound on concurrent hashes would be gone.)
    const waiting = new AbortController();
    const timer = setTimeout(() => waiting.abort(), this.o.queueTimeoutMs);
    return this.queue
      .add(
        () => {
          clearTimeout(timer);
          return task();
        },
        { signal: waiting.signal },
      )
      .catch((err: unknown) => {
        clearTimeout(timer);
        // Aborted while still waiting for a slot: the queue is too long.
        if (waiting.signal.aborted) throw new HasherBusyError();
        throw err;
      }) as Promise<T>;
  }

  hash(password: string): Promise<string> {
    return this.run(() => hash(password, this.params));
  }

  /**
   * True if `password` matches `encoded`: latchkey's argon2 PHC strings, or the
   * Django encodings of imported users (pbkdf2_sha256, pbkdf2_sha1, argon2,
   * bcrypt_sha256, bcrypt). Unknown encodings, and Django's unusable `!...`
   * marker, never match.
   */
  verify(encoded: string, password: string): Promise<boolean> {
    if (isDjangoEncoding(encoded)) return this.run(() => verifyDjangoPassword(encoded, password));
    if (!encoded.startsWith('$argon2')) return this.verifyDummy(password).then(() => false);
    return this.run(() => verify(encoded, password).catch(() => false));
  }

  /**
   * True when `encoded` was made with weaker parameters than the current ones,
   * or is not argon2id at all (a Django encoding: rehashed at the next login).
   */
  needsRehash(encoded: string): boolean {
    const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(encoded);
    if (!m) return true;
    return Number(m[1]) < this.params.memoryCost || Number(m[2]) < this.params.timeCost;
  }

  /** Computes the dummy hash once, ahead of the first unknown-user login. */
  warm(): Promise<string> {
    this.dummy ??= this.run(() => hash('latchkey-dummy-password', this.params)).catch((err: unknown) => {
      this.dummy = undefined; // a busy hasher must not poison every later call
      throw err;
    });
    return this.dummy;
  }

  /**
   * Spends the same time as verifying a real password, for a user who does not
   * exist, so that response time does not tell which usernames are taken.
   */
  async verifyDummy(password: string): Promise<void> {
    const encoded = await this.warm();
    await this.run(() => verify(encoded, password).catch(() => false));
  }
}
