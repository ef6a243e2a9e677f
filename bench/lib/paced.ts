// Latency at a fixed, steady request rate (open loop). autocannon's rate
// option sends each connection's quota back to back at the start of every
// second, which measures a saturated burst; this sends request i at
// t0 + i/rate and times it from that intended moment, so a stalled server
// (or a stalled client) shows up in the latency instead of lowering the rate.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RunResult } from './load.js';
import { cpuMicros, rssBytes, tree } from './procs.js';

export interface PacedSpec {
  port: number;
  path: string;
  headers: Record<string, string>;
  /** Requests per second. */
  rate: number;
  /** Seconds. */
  duration: number;
}

export async function runPaced(spec: PacedSpec, serverPid: number): Promise<RunResult> {
  const pids = tree(serverPid);
  const rssMax = pids.map(() => 0);
  const sample = () => pids.forEach((p, i) => (rssMax[i] = Math.max(rssMax[i]!, rssBytes(p))));
  const sampler = setInterval(sample, 200);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let inFlight = 0;
  const total = Math.round(spec.rate * spec.duration);
  const cpu0 = cpuMicros(pids);
  const load0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    let finished = false;
    const maybeDone = () => {
      if (!finished && sent === total && inFlight === 0) {
        finished = true;
        resolve();
      }
    };
    const send = (intended: number) => {
      inFlight++;
      const req = http.request(
        { agent, host: '127.0.0.1', port: spec.port, path: spec.path, method: 'GET', headers: spec.headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            const code = String(res.statusCode);
            statusCodes[code] = (statusCodes[code] ?? 0) + 1;
            if (res.statusCode! >= 200 && res.statusCode! < 300) latencies.push(performance.now() - intended);
            inFlight--;
            maybeDone();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        inFlight--;
        maybeDone();
      });
      req.end();
    };
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * spec.rate) + 1);
      while (sent < due) send(t0 + (sent++ * 1000) / spec.rate);
      if (sent < total) setTimeout(tick, 1);
      else maybeDone();
    };
    tick();
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  sample();
  agent.destroy();
  const serverCpu = cpuMicros(pids) - cpu0;
  const loadUsage = process.cpuUsage(load0);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))]! : NaN;
  const ok = latencies.length;
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    ok,
    non2xx: responses - ok,
    errors,
    statusCodes,
    seconds,
    rps: ok / seconds,
    p50: pct(50),
    p99: pct(99),
    cpuUsPerReq: ok > 0 ? serverCpu / ok : NaN,
    loadCpuUsPerReq: responses > 0 ? (loadUsage.user + loadUsage.system) / responses : NaN,
    rssMax,
  };
}
