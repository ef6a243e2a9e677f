// Per-call cost of the work latchkey adds to an authenticated request: the
// service's authenticate() (header, signature, claims, user read), measured
// in a loop on one process. Run: node dist/bench/auth-cost.js
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { createService } from '../src/latchkey.js';
import { tempDir } from '../test/helpers.js';

const dir = tempDir('latchkey-authcost-');
const { service, storage } = await createService(
  loadConfig({ LATCHKEY_DATA_DIR: dir, LATCHKEY_SIGNING_KEY: 'x'.repeat(40), LATCHKEY_LOG_LEVEL: 'silent' }),
);
const user = await service.register({ username: 'bench', password: 'bench-password-1' }, { passwordPolicy: false });
const { access } = await service.issuePair(user.id);
const header = `Bearer ${access}`;

async function time(name: string, fn: () => unknown, n = 100_000) {
  for (let i = 0; i < 5000; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  console.log(`${name}: ${(((performance.now() - t0) * 1000) / n).toFixed(2)} µs`);
}
await time('authenticate()', () => service.authenticate(header));
await time('authenticateNow() (no await)', () => void service.authenticateNow(header), 1_000_000);
await time('tokens.check()', () => service.tokens.check(access, 'access', service.now()));
await time('storage.getUserAuth()', () => storage.getUserAuth(user.id));
await storage.close();
