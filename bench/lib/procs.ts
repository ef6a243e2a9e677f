// Child servers for the benchmark: spawning, readiness, /proc accounting
// (CPU time and VmRSS of a process and its children), and teardown that
// leaves nothing running (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

export interface Server {
  name: string;
  port: number;
  child: ChildProcess;
  /** Where the child's stdout and stderr go. */
  log: string;
}

const live = new Set<ChildProcess>();

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  log: string;
}

/** Starts a long-running child; it is killed by stopAll() whatever happens. */
export function startChild(cmd: string, args: string[], o: SpawnOptions): ChildProcess {
  const out = fs.openSync(o.log, 'a');
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export function runCommand(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      live.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}: ${out.trim().slice(-2000)}`));
    });
  });
}

function tail(file: string, chars = 1500): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-chars).trim();
  } catch {
    return '';
  }
}

/** Waits until the port answers HTTP (any status), or the child dies, or time runs out. */
export async function waitReady(s: Server, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      throw new Error(`${s.name} exited during startup (${s.child.exitCode ?? s.child.signalCode}):\n${tail(s.log)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${s.port}/api/protected-endpoint/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${s.name} did not answer on port ${s.port} within ${timeoutMs} ms:\n${tail(s.log)}`);
    await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops one child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pids = child.pid ? descendants(child.pid) : [];
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
    for (const p of pids) killQuietly(p, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
  // Workers of a cluster primary or of gunicorn that outlived it.
  for (const p of pids) if (alive(p)) killQuietly(p, 'SIGKILL');
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

/** Last-resort, synchronous: used from process 'exit'. */
export function killAllNow(): void {
  for (const c of live) {
    const pids = c.pid ? descendants(c.pid) : [];
    c.kill('SIGKILL');
    for (const p of pids) killQuietly(p, 'SIGKILL');
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- /proc ----------------------------------------------------------------

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** Every descendant of `pid` (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(Number(name));
    byParent.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [...(byParent.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** The server process and its workers. */
export function tree(pid: number): number[] {
  return [pid, ...descendants(pid)];
}

/** CPU time (user + system) of these processes, in microseconds. */
export function cpuMicros(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) ticks += readStat(p)?.ticks ?? 0;
  return (ticks * 1e6) / CLK_TCK;
}

/** VmRSS of one process, in bytes (0 if it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
