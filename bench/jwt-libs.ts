// Measures the JWT libraries the issue allows (jose, fast-jwt) for HS256
// verification: serial cost per call, and latency while argon2id hashes keep
// libuv's thread pool busy (as during a login burst). Run: npm run bench:jwt
import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { hash } from '@node-rs/argon2';
import { createSigner, createVerifier } from 'fast-jwt';
import { jwtVerify } from 'jose';

const KEY = Buffer.from('shared-test-signing-key-0123456789abcdef');
const now = Math.floor(Date.now() / 1000);
const token = createSigner({ key: KEY, algorithm: 'HS256' })({
  token_type: 'access',
  exp: now + 3600,
  iat: now,
  jti: 'a'.repeat(32),
  user_id: 1,
});

const fast = createVerifier({ key: KEY, algorithms: ['HS256'] });
const fastCached = createVerifier({ key: KEY, algorithms: ['HS256'], cache: 1000 });
const joseKey = new Uint8Array(KEY);

type Verify = () => unknown;
const candidates: Record<string, Verify> = {
  // fast-jwt declares the payload it returns as `any`.
  'fast-jwt': () => fast(token) as unknown,
  'fast-jwt (cache)': () => fastCached(token) as unknown,
  jose: () => jwtVerify(token, joseKey, { algorithms: ['HS256'] }),
  'node:crypto (reference)': () => {
    const [h, p, s] = token.split('.');
    const mac = createHmac('sha256', KEY).update(`${h}.${p}`).digest('base64url');
    if (mac !== s) throw new Error('bad');
    return JSON.parse(Buffer.from(p!, 'base64url').toString()) as unknown;
  },
};

async function serial(fn: Verify, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return ((performance.now() - t0) * 1000) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Latency of single verifies while `hashes` argon2id hashes run back to back. */
async function underHashLoad(fn: Verify, samples: number): Promise<number> {
  let running = true;
  const burner = async () => {
    while (running) await hash('pw', { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  };
  const burners = Array.from({ length: 8 }, burner);
  await new Promise((r) => setTimeout(r, 100));
  const lat: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn();
    lat.push(performance.now() - t0);
    await new Promise((r) => setImmediate(r));
  }
  running = false;
  await Promise.all(burners);
  return median(lat);
}

const rows: string[] = [];
for (const [name, fn] of Object.entries(candidates)) {
  await serial(fn, 2000); // warm up
  const us = await serial(fn, 20000);
  const loaded = await underHashLoad(fn, 200);
  rows.push(`| ${name} | ${us.toFixed(1)} µs | ${loaded.toFixed(3)} ms |`);
}
console.log('| library | serial verify | median verify during an argon2 burst |');
console.log('| --- | --- | --- |');
for (const r of rows) console.log(r);
