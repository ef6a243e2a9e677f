// One measured load run with wrk, the second load generator: written in C, it
// costs a fraction of autocannon's CPU per request, which matters on a 2-core
// machine where the load shares the cores with the servers (see the workers
// rows in BENCHMARKS.md). Same accounting as load.ts: server CPU and RSS from
// /proc around the run; wrk's own CPU from /proc while it runs.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunResult } from './load.js';
import { cpuMicros, rssBytes, tree } from './procs.js';

/** wrk's path, or undefined when it is not installed (apt-get install wrk). */
export function wrkPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, 'wrk');
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

// wrk's report as one JSON line. Latencies are µs; errors.status counts
// responses with a status of 400 or more.
const REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('LATCHKEY-WRK {"requests":%d,"duration":%d,"status":%d,"errors":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

// Refresh with rotation: every refresh token is good for one request. The
// thread keeps a pool of them: request() pops one, response() pushes the one a
// 200 returns. wrk asks request() for a connection's next request before the
// previous response on it has arrived, so a pool of one token per connection
// runs dry (and then sends a token that is refused, which fails the run): it
// starts with ROTATION_TOKENS_PER_CONNECTION per connection, read from the file
// named in LATCHKEY_WRK_TOKENS, one per line.
const ROTATION = `
local pool = {}
local n = 0
init = function(args)
  for line in io.lines(os.getenv("LATCHKEY_WRK_TOKENS")) do
    n = n + 1
    pool[n] = line
  end
end
request = function()
  local t = "no-session-left"
  if n > 0 then
    t = pool[n]
    pool[n] = nil
    n = n - 1
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"refresh":"' .. t .. '"}')
end
response = function(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh"%s*:%s*"([^"]+)"')
    if t then
      n = n + 1
      pool[n] = t
    end
  end
end
`;

/** Refresh tokens per connection that a rotation run must start with (found by experiment: fewer run dry). */
export const ROTATION_TOKENS_PER_CONNECTION = 3;

let dir: string | undefined;
const scripts = new Map<string, string>();
let tokenFiles = 0;

function scratchDir(): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-wrk-'));
  return dir;
}

function scriptFile(name: string, text: string): string {
  let file = scripts.get(name);
  if (!file) {
    file = path.join(scratchDir(), `${name}.lua`);
    fs.writeFileSync(file, text);
    scripts.set(name, file);
  }
  return file;
}

export interface WrkSpec {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  /** Seconds. */
  duration: number;
  threads?: number;
  /** Refresh with rotation: POST {"refresh": t} with a token from this pool, then with the ones returned. */
  rotation?: { tokens: string[] };
}

interface WrkReport {
  requests: number;
  duration: number;
  status: number;
  errors: number;
  p50: number;
  p99: number;
}

/** One wrk process; resolves with its report once it exits. */
function start(wrk: string, spec: WrkSpec): { child: ChildProcess; done: Promise<WrkReport> } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  let script = scriptFile('report', REPORT);
  if (spec.rotation) {
    script = scriptFile('rotation', ROTATION + REPORT);
    const file = path.join(scratchDir(), `tokens-${tokenFiles++}.txt`);
    fs.writeFileSync(file, `${spec.rotation.tokens.join('\n')}\n`);
    env.LATCHKEY_WRK_TOKENS = file;
  }
  const args = ['-t', String(spec.threads ?? 1), '-c', String(spec.connections), '-d', `${spec.duration}s`, '-s', script];
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(spec.url);
  const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  }).then((code) => {
    const line = /LATCHKEY-WRK (\{.*\})/.exec(out);
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
    return JSON.parse(line[1]!) as WrkReport;
  });
  return { child, done };
}

export async function runWrk(spec: WrkSpec, serverPid: number | undefined): Promise<RunResult> {
  return runWrkOn([spec], serverPid ? [serverPid] : []);
}

/**
 * Several wrk processes at once, one per spec (two instances on one database,
 * each with its share of the connections), counted as one run: responses and
 * server CPU are summed over every process in `serverPids`' trees. wrk reports
 * percentiles, not latencies, so a run of several gives the largest p50 and
 * the largest p99 of its parts.
 */
export async function runWrkOn(specs: WrkSpec[], serverPids: number[]): Promise<RunResult> {
  const wrk = wrkPath();
  if (!wrk) throw new Error('wrk is not installed');
  const pids = serverPids.flatMap((p) => tree(p));
  const rssMax = pids.map(() => 0);
  const sample = () => pids.forEach((p, i) => (rssMax[i] = Math.max(rssMax[i]!, rssBytes(p))));
  sample();
  const cpu0 = cpuMicros(pids);
  const runs = specs.map((spec) => start(wrk, spec));
  const loadCpu = runs.map(() => 0);
  const sampler = setInterval(() => {
    sample();
    runs.forEach((r, i) => {
      if (r.child.pid) loadCpu[i] = Math.max(loadCpu[i]!, cpuMicros([r.child.pid]));
    });
  }, 200);
  let reports: WrkReport[];
  try {
    reports = await Promise.all(runs.map((r) => r.done));
  } finally {
    clearInterval(sampler);
  }
  sample();
  const serverCpu = cpuMicros(pids) - cpu0;
  const requests = reports.reduce((a, r) => a + r.requests, 0);
  const status = reports.reduce((a, r) => a + r.status, 0);
  const ok = requests - status;
  const seconds = Math.max(...reports.map((r) => r.duration)) / 1e6;
  return {
    ok,
    non2xx: status,
    errors: reports.reduce((a, r) => a + r.errors, 0),
    statusCodes: { '2xx': ok, ...(status ? { '4xx/5xx': status } : {}) },
    seconds,
    rps: ok / seconds,
    p50: Math.max(...reports.map((r) => r.p50)) / 1000,
    p99: Math.max(...reports.map((r) => r.p99)) / 1000,
    cpuUsPerReq: ok > 0 ? serverCpu / ok : NaN,
    loadCpuUsPerReq: requests > 0 ? loadCpu.reduce((a, b) => a + b, 0) / requests : NaN,
    rssMax,
  };
}
