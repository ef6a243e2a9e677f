// The default worker count (src/cores.ts): the cores the process may use,
// capped by its cgroup's CPU quota, read from a cgroup filesystem laid out in
// a temporary directory as Linux lays out v1 and v2.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { cgroupCpuLimit, usableCores } from '../src/cores.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-cgroup-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function put(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  fs.writeFileSync(path.join(root, file), `${text}\n`);
}

describe('cgroupCpuLimit', () => {
  it('reads a v2 quota on the process group, rounding up', () => {
    put('v2a/cpu.max', 'max 100000');
    put('v2a/app/cpu.max', '150000 100000');
    assert.equal(cgroupCpuLimit(path.join(root, 'v2a'), '0::/app\n'), 2);
  });

  it('takes the smallest quota of the group and its ancestors (v2)', () => {
    put('v2b/cpu.max', 'max 100000');
    put('v2b/pod/cpu.max', '100000 100000');
    put('v2b/pod/app/cpu.max', 'max 100000');
    assert.equal(cgroupCpuLimit(path.join(root, 'v2b'), '0::/pod/app\n'), 1);
  });

  it('has no limit when v2 says max everywhere', () => {
    put('v2c/cpu.max', 'max 100000');
    assert.equal(cgroupCpuLimit(path.join(root, 'v2c'), '0::/\n'), undefined);
  });

  it('reads a v1 quota (cpu,cpuacct hierarchy); -1 is no limit', () => {
    put('v1a/cpu,cpuacct/cpu.cfs_period_us', '100000');
    put('v1a/cpu,cpuacct/cpu.cfs_quota_us', '-1');
    put('v1a/cpu,cpuacct/docker/c1/cpu.cfs_period_us', '100000');
    put('v1a/cpu,cpuacct/docker/c1/cpu.cfs_quota_us', '300000');
    assert.equal(cgroupCpuLimit(path.join(root, 'v1a'), '4:cpu,cpuacct:/docker/c1\n2:cpuacct:/\n'), 3);
    assert.equal(cgroupCpuLimit(path.join(root, 'v1a'), '4:cpu,cpuacct:/\n'), undefined);
  });

  it('has no limit when there is no cgroup filesystem', () => {
    assert.equal(cgroupCpuLimit(path.join(root, 'none'), '0::/\n1:cpu:/\n'), undefined);
  });
});

describe('usableCores', () => {
  it('is at least 1 and at most what the affinity mask allows', () => {
    const n = usableCores();
    assert.ok(n >= 1 && n <= os.availableParallelism(), String(n));
  });
});
