// The raw hash rate that login is compared with: @node-rs/argon2 hash() on
// libuv's thread pool, `--concurrency` hashes at a time (as latchkey's hash
// pool runs them), for `--duration` seconds. `--mode verify` times verify()
// of one stored hash instead, which is what a login does. Started by
// bench/run.ts as its own process; prints one JSON line.
//   node dist/bench/hash-rate.js --concurrency 1 --duration 5 [--mode hash|verify] [--memory 19456 --time 2 --parallelism 1]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1' },
    duration: { type: 'string', default: '5' },
    memory: { type: 'string', default: '19456' },
    time: { type: 'string', default: '2' },
    parallelism: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'hash' },
  },
});
const concurrency = Number(values.concurrency);
const durationMs = Number(values.duration) * 1000;
const params = {
  memoryCost: Number(values.memory),
  timeCost: Number(values.time),
  parallelism: Number(values.parallelism),
  algorithm: 2 as Algorithm.Argon2id, // a const enum, which verbatimModuleSyntax cannot import
};

// One hash first, so the first timed one does not pay for loading the addon.
const stored = await hash('bench-password-1', params);
const once: (i: number) => Promise<unknown> =
  values.mode === 'verify' ? () => verify(stored, 'bench-password-1') : (i) => hash(`bench-password-${i}`, params);

const times: number[] = [];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = t0 + durationMs;
let done = 0;
async function lane(): Promise<void> {
  while (performance.now() < end) {
    const s = performance.now();
    await once(done);
    times.push(performance.now() - s);
    done++;
  }
}
await Promise.all(Array.from({ length: concurrency }, lane));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
times.sort((a, b) => a - b);
const pct = (p: number) => times[Math.min(times.length - 1, Math.max(0, Math.ceil((p / 100) * times.length) - 1))] ?? NaN;
process.stdout.write(
  `${JSON.stringify({
    hashes: done,
    seconds,
    rate: done / seconds,
    p50: pct(50),
    p99: pct(99),
    cpuUsPerHash: (cpu.user + cpu.system) / done,
  })}\n`,
);
