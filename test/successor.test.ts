// The sealed successor pair of a rotation (the retry grace): it opens only
// with the rotated token, and pairs sealed under the former key derivation
// (HKDF-SHA256) still open, so a retry across an upgrade is not taken for reuse.
import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { randomChunk } from '../src/random-pool.js';
import { openSuccessor, sealSuccessor } from '../src/service/successor.js';

const pair = { access: 'a.b.c', refresh: 'd.e.f' };
const rotated = 'eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiIwMTkzIn0.c2lnbmF0dXJl';

/** A pair sealed as the build before this one sealed it. */
function sealFormer(token: string): string {
  const key = Buffer.from(hkdfSync('sha256', token, Buffer.alloc(0), 'latchkey rotation successor v1', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(pair), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

describe('rotation successor sealing', () => {
  it('opens with the rotated token only', () => {
    const sealed = sealSuccessor(pair, rotated);
    assert.deepEqual(openSuccessor(sealed, rotated), pair);
    assert.equal(openSuccessor(sealed, rotated + 'x'), undefined);
    assert.equal(openSuccessor(sealed.slice(0, -2), rotated), undefined);
  });

  it('seals each time under a fresh IV', () => {
    assert.notEqual(sealSuccessor(pair, rotated), sealSuccessor(pair, rotated));
  });

  it('still opens a pair sealed under the former key derivation', () => {
    assert.deepEqual(openSuccessor(sealFormer(rotated), rotated), pair);
    assert.equal(openSuccessor(sealFormer(rotated), rotated + 'x'), undefined);
  });
});

describe('random pool', () => {
  it('hands out chunks that differ and that a refill leaves as they were', () => {
    const first = randomChunk(16);
    const kept = Buffer.from(first);
    const seen = new Set([first.toString('hex')]);
    for (let i = 0; i < 1000; i++) seen.add(randomChunk(16).toString('hex'));
    assert.equal(seen.size, 1001, 'no chunk repeats');
    assert.deepEqual(first, kept, 'a chunk handed out never changes');
    assert.throws(() => randomChunk(4097), RangeError);
  });
});
