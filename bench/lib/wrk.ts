// One measured load run with wrk, the second load generator: written in C, it
// costs a fraction of autocannon's CPU per request, which matters on a 2-core
// machine where the load shares the cores with the servers (see the workers
// rows in BENCHMARKS.md). Same accounting as load.ts: server CPU and RSS from
// /proc around the run; wrk's own CPU from /proc while it runs.
import { spawn } from 'node:child_process';
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

let script: string | undefined;

export interface WrkSpec {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  /** Seconds. */
  duration: number;
  threads?: number;
}

export async function runWrk(spec: WrkSpec, serverPid: number | undefined): Promise<RunResult> {
  const wrk = wrkPath();
  if (!wrk) throw new Error('wrk is not installed');
  if (!script) {
    script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-wrk-')), 'report.lua');
    fs.writeFileSync(script, REPORT);
  }
  const args = ['-t', String(spec.threads ?? 1), '-c', String(spec.connections), '-d', `${spec.duration}s`, '-s', script];
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(spec.url);

  const pids = serverPid ? tree(serverPid) : [];
  const rssMax = pids.map(() => 0);
  const sample = () => pids.forEach((p, i) => (rssMax[i] = Math.max(rssMax[i]!, rssBytes(p))));
  sample();
  const cpu0 = cpuMicros(pids);
  const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let loadCpu = 0;
  const sampler = setInterval(() => {
    sample();
    if (child.pid) loadCpu = Math.max(loadCpu, cpuMicros([child.pid]));
  }, 200);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  }).finally(() => clearInterval(sampler));
  sample();
  const serverCpu = cpuMicros(pids) - cpu0;
  const line = /LATCHKEY-WRK (\{.*\})/.exec(out);
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
  const r = JSON.parse(line[1]!) as { requests: number; duration: number; status: number; errors: number; p50: number; p99: number };
  const ok = r.requests - r.status;
  const seconds = r.duration / 1e6;
  return {
    ok,
    non2xx: r.status,
    errors: r.errors,
    statusCodes: { '2xx': ok, ...(r.status ? { '4xx/5xx': r.status } : {}) },
    seconds,
    rps: ok / seconds,
    p50: r.p50 / 1000,
    p99: r.p99 / 1000,
    cpuUsPerReq: ok > 0 ? serverCpu / ok : NaN,
    loadCpuUsPerReq: r.requests > 0 ? loadCpu / r.requests : NaN,
    rssMax,
  };
}
