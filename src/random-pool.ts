// Random bytes for the hot path, drawn from a pool refilled from the CSPRNG
// 4 KiB at a time. crypto.randomBytes(16) costs a call into OpenSSL and a new
// Buffer each time (about 3.5 µs here); a rotation needs three such draws (two
// jtis and an IV). Each chunk is handed out once and never reused; a refill
// makes a new buffer, so chunks already handed out never change.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

let pool = Buffer.alloc(0);
let at = 0;

/** `n` (at most 4 KiB) fresh random bytes: a view into the pool that no later call touches. */
export function randomChunk(n: number): Buffer {
  if (n > POOL_BYTES) throw new RangeError(`randomChunk: at most ${POOL_BYTES} bytes`);
  if (at + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    at = 0;
  }
  const chunk = pool.subarray(at, at + n);
  at += n;
  return chunk;
}
