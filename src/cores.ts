// How many cores this process can actually run on: the default number of
// `serve` workers. Node's os.availableParallelism() follows the CPU affinity
// mask (taskset, cpusets) but not a container's CPU quota (docker --cpus=1,
// Kubernetes limits): on a 64-core host with a one-CPU quota it says 64, and
// 64 workers would share one CPU's time at ~110 MB each. The quota is read
// from the cgroup (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`)
// and rounds up: 1.5 CPUs' worth of time keeps 2 workers busy.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** CPUs' worth of time a quota allows, or undefined when there is none (or it cannot be read). */
function quotaCpus(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

/**
 * The CPU quota of this process's cgroup, in whole CPUs (rounded up), or
 * undefined when it has none. `root` is the cgroup filesystem (for tests).
 */
export function cgroupCpuLimit(root = '/sys/fs/cgroup', self = read('/proc/self/cgroup') ?? ''): number | undefined {
  const lines = self.split('\n');
  // cgroup v2: "0::/path"; the limit may sit on the group or on an ancestor, the smallest wins.
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = lines.find((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l))?.replace(/^\d+:[^:]*:/, '');
  const limits: number[] = [];
  const walk = (base: string, rel: string, limitAt: (dir: string) => number | undefined) => {
    for (let dir = path.resolve(base, `.${rel}`); dir.startsWith(base); dir = path.dirname(dir)) {
      const n = limitAt(dir);
      if (n !== undefined) limits.push(n);
      if (dir === base) break;
    }
  };
  if (v2 !== undefined) {
    walk(root, v2, (dir) => {
      const [quota, period] = (read(path.join(dir, 'cpu.max')) ?? '').split(/\s+/);
      return quota === 'max' ? undefined : quotaCpus(Number(quota), Number(period));
    });
  }
  if (v1 !== undefined) {
    const base = [path.join(root, 'cpu'), path.join(root, 'cpu,cpuacct')].find(
      (d) => read(path.join(d, 'cpu.cfs_period_us')) !== undefined,
    );
    if (base) {
      walk(base, v1, (dir) =>
        quotaCpus(Number(read(path.join(dir, 'cpu.cfs_quota_us'))), Number(read(path.join(dir, 'cpu.cfs_period_us')))),
      );
    }
  }
  return limits.length ? Math.min(...limits) : undefined;
}

/** The cores this process may run on: the affinity mask's count, capped by the cgroup's CPU quota. */
export function usableCores(): number {
  const cores = os.availableParallelism();
  const limit = cgroupCpuLimit();
  return Math.max(1, limit === undefined ? cores : Math.min(cores, limit));
}
