// An LRU cache bounded by its number of entries, that takes memory as entries
// arrive. lru-cache's `max` sets aside arrays for all `max` entries when the
// cache is made (with a ttl, six arrays: about 48 bytes an entry), so the
// three caches of a worker (100,000 + 50,000 + 10,000 entries) took about
// 5.5 MB of heap in every idle process. Bounded by `maxSize` with every entry
// counting 1, the same limit holds and nothing is set aside.
import { LRUCache } from 'lru-cache';

type Options<K extends NonNullable<unknown>, V extends NonNullable<unknown>> = Omit<
  LRUCache.Options<K, V, unknown>,
  'max' | 'maxSize' | 'sizeCalculation'
>;

export function boundedCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(
  entries: number,
  opts: Options<K, V> = {},
): LRUCache<K, V> {
  return new LRUCache<K, V>({ ...opts, maxSize: entries, sizeCalculation: () => 1 } as LRUCache.Options<K, V, unknown>);
}
