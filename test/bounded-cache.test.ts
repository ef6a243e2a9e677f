// The LRU caches are bounded by their number of entries without setting
// memory aside for all of them up front (src/bounded-cache.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundedCache } from '../src/bounded-cache.js';

describe('boundedCache', () => {
  it('keeps at most its number of entries, dropping the least recently used', () => {
    const c = boundedCache<string, number>(3);
    for (const [i, k] of ['a', 'b', 'c'].entries()) c.set(k, i);
    assert.equal(c.get('a'), 0); // a is now the most recently used
    c.set('d', 3);
    assert.equal(c.size, 3);
    assert.equal(c.has('b'), false, 'the least recently used went');
    assert.deepEqual([...c.keys()].sort(), ['a', 'c', 'd']);
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, i);
    assert.equal(c.size, 3);
  });

  it('passes other options on (a ttl expires entries)', async () => {
    const c = boundedCache<string, number>(10, { ttl: 5 });
    c.set('a', 1);
    assert.equal(c.get('a'), 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(c.get('a'), undefined);
  });
});
