// The table: per-server summaries of the measured rounds (medians), the
// checks against issue 17's targets (each with its spread across rounds),
// and the Markdown rendering.
import type { RunResult } from './load.js';

export interface Run extends RunResult {
  /** The login storm's counts, on storm rows. */
  storm?: { ok: number; non2xx: number; errors: number; rps: number; statusCodes: Record<string, number> };
}

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  loadCpu: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Largest VmRSS per process (index 0: the process started; then its workers), bytes. */
  rssMax: number[];
  runs: Run[];
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(runs: Run[]): Summary {
  const rssMax: number[] = [];
  for (const r of runs) r.rssMax.forEach((v, i) => (rssMax[i] = Math.max(rssMax[i] ?? 0, v)));
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpuUsPerReq)),
    loadCpu: median(runs.map((r) => r.loadCpuUsPerReq)),
    ok: runs.reduce((a, r) => a + r.ok, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    rssMax,
    runs,
  };
}

export function fmtRate(v: number): string {
  if (Number.isNaN(v)) return '–';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}
export function fmtMs(v: number): string {
  if (Number.isNaN(v)) return '–';
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
}
export function fmtCpu(v: number): string {
  if (Number.isNaN(v)) return '–';
  return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
}
export const mb = (bytes: number) => (bytes > 0 ? `${(bytes / 1048576).toFixed(0)}` : '–');
export const ratio = (v: number) => (Number.isNaN(v) ? '–' : v >= 10 ? `${v.toFixed(1)}×` : `${v.toFixed(2)}×`);

export interface Row {
  measurement: string;
  rps?: number;
  p50?: number;
  p99?: number;
  cpu?: number;
  /** Per-worker RSS (the largest), MB column. */
  rss?: number;
  ratio?: string;
  target?: string;
  note?: string;
}

/**
 * A judged ratio of two servers' figures: `value` is the ratio of their
 * medians (the figures in the table); `rounds` is the same ratio within each
 * round, where the two took their turns back to back, and min–max is its spread.
 */
export interface Ratio {
  value: number;
  rounds: number[];
  min: number;
  max: number;
}

/** `pick(num) / pick(den)`, for the medians and for each round. */
export function ratioOf(num: Summary | undefined, den: Summary | undefined, pick: (r: Run) => number): Ratio {
  if (!num || !den) return { value: NaN, rounds: [], min: NaN, max: NaN };
  const value = median(num.runs.map(pick)) / median(den.runs.map(pick));
  const n = Math.min(num.runs.length, den.runs.length);
  const rounds = Array.from({ length: n }, (_, i) => pick(num.runs[i]!) / pick(den.runs[i]!));
  const valid = rounds.filter((v) => !Number.isNaN(v));
  return { value, rounds, min: valid.length ? Math.min(...valid) : NaN, max: valid.length ? Math.max(...valid) : NaN };
}

const twoPlaces = (v: number) => (Number.isNaN(v) ? '–' : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** "0.97× (0.93–1.01)": the medians' ratio, and its spread across rounds when there was more than one. */
export function fmtRatio(r: Ratio): string {
  const spread = r.rounds.length > 1 ? ` (${twoPlaces(r.min)}–${twoPlaces(r.max)})` : '';
  return `${ratio(r.value)}${spread}`;
}

export const rpsOf = (r: Run) => r.rps;
export const cpuOf = (r: Run) => r.cpuUsPerReq;

export interface Check {
  name: string;
  value: number;
  limit: number;
  /** `min`: value must be ≥ limit; `max`: ≤ limit. */
  kind: 'min' | 'max';
  pass: boolean;
  /** For a ratio: the ratio within each round, and their min and max. */
  spread?: { min: number; max: number; rounds: number[] };
}
export const checks: Check[] = [];

export function check(name: string, value: number | Ratio, kind: 'min' | 'max', limit: number, unit = '×'): string {
  const v = typeof value === 'number' ? value : value.value;
  const pass = !Number.isNaN(v) && (kind === 'min' ? v >= limit : v <= limit);
  checks.push({
    name,
    value: v,
    limit,
    kind,
    pass,
    ...(typeof value === 'number' ? {} : { spread: { min: value.min, max: value.max, rounds: value.rounds } }),
  });
  return `${kind === 'min' ? '≥' : '≤'} ${limit}${unit} **${pass ? 'PASS' : 'FAIL'}**`;
}

/** The largest RSS of any worker: for a cluster, the processes after the primary. */
export function workerRss(s: Summary | undefined, workers: number): number {
  if (!s || s.rssMax.length === 0) return NaN;
  const list = workers > 1 ? s.rssMax.slice(1) : s.rssMax.slice(0, 1);
  return Math.max(...list);
}

/**
 * `peer`: gunicorn's sync workers close the connection after every response,
 * so autocannon's connection errors there are reconnections, not failures.
 */
export function serverRow(measurement: string, s: Summary | undefined, extra: Partial<Row> = {}, workers = 1, peer = false): Row {
  if (!s) return { measurement, ...extra };
  const bad = s.non2xx || (!peer && s.errors) ? ` (${s.non2xx} non-2xx${peer ? '' : `, ${s.errors} errors`})` : '';
  return {
    measurement: measurement + bad,
    rps: s.rps,
    p50: s.p50,
    p99: s.p99,
    cpu: s.cpu,
    rss: workerRss(s, workers),
    ...extra,
  };
}

export function renderTable(rows: Row[]): string {
  const head = '| measurement | req/s | p50 ms | p99 ms | server CPU µs/req | RSS MB | ratio to reference | target |';
  const sep = '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |';
  const lines = rows.map((r) => {
    if (r.note !== undefined) return `| ${r.measurement} | | | | | | ${r.note} | |`;
    return `| ${r.measurement} | ${r.rps === undefined ? '' : fmtRate(r.rps)} | ${r.p50 === undefined ? '' : fmtMs(r.p50)} | ${
      r.p99 === undefined ? '' : fmtMs(r.p99)
    } | ${r.cpu === undefined ? '' : fmtCpu(r.cpu)} | ${r.rss === undefined ? '' : mb(r.rss)} | ${r.ratio ?? ''} | ${r.target ?? ''} |`;
  });
  return [head, sep, ...lines].join('\n');
}
