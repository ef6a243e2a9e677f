// A worker that dies is replaced, and the primary says why (issue 14, item 8,
// the process side): `serve --workers 2`, one worker killed with SIGBUS (what
// a store through a memory map of an unwritable file delivers), another made to
// exit with SIGKILL. The primary logs the signal, starts another worker, and
// the server keeps answering. Linux only: the workers are found in /proc.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { tempDir } from './helpers.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const HAS_PROC = fs.existsSync('/proc/self/task');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** GET on a new connection each time (a pooled one may lead to the worker just killed). */
const statusOf = (url: string) =>
  new Promise<number>((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });

/** The primary's child processes (its workers), from /proc. */
function workersOf(pid: number): number[] {
  const kids = new Set<number>();
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const k of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (k) kids.add(Number(k));
    } catch {
      // the thread ended meanwhile
    }
  }
  return [...kids].sort();
}

describe('serve --workers 2: a dead worker is replaced and its death logged', { skip: !HAS_PROC && 'needs /proc (Linux)' }, () => {
  let dir: string;
  let primary: ChildProcess;
  let base: string;
  let output = '';
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    dir = tempDir();
    const env = {
      ...process.env,
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_SIGNING_KEY: 'worker-restart-test-signing-key-0123456789',
      LATCHKEY_LOG_LEVEL: 'info',
    };
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    primary = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--workers', '2'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    primary.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    primary.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!lines().some((l) => l.msg === 'latchkey is serving')) {
      if (primary.exitCode !== null) throw new Error(`server exited early:\n${output}`);
      if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
      await sleep(100);
    }
  });

  after(async () => {
    if (primary && primary.exitCode === null && primary.signalCode === null) {
      const gone = new Promise((r) => primary.once('exit', r));
      primary.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const signal of ['SIGBUS', 'SIGKILL'] as const) {
    it(`a worker killed by ${signal} is replaced, and the primary logs the signal`, async () => {
      const before = workersOf(primary.pid!);
      assert.equal(before.length, 2, `workers: ${before.join(', ')}`);
      const victim = before[0]!;
      process.kill(victim, signal);

      const deadline = Date.now() + 15_000;
      let line: Record<string, unknown> | undefined;
      let now: number[] = [];
      while (Date.now() < deadline) {
        line = lines().find((l) => l.pid === victim && l.signal === signal);
        now = workersOf(primary.pid!);
        if (line && now.length === 2 && !now.includes(victim)) break;
        await sleep(100);
      }
      assert.ok(line, `no log line for the death of ${victim}:\n${output}`);
      assert.equal(line.level, 50, 'logged as an error');
      assert.equal(line.reason, `killed by ${signal}`);
      assert.match(String(line.msg), new RegExp(`worker ${victim} killed by ${signal}; started worker \\d+ in its place`));
      assert.ok(typeof line.replacement === 'number' && now.includes(line.replacement), 'the replacement is running');
      assert.deepEqual(
        Object.keys(line).sort(),
        ['code', 'hostname', 'level', 'msg', 'pid', 'reason', 'replacement', 'signal', 'time'].sort(),
      );
      assert.equal(now.length, 2, 'two workers again');

      // The replacement serves once it has started: then every answer is 200, whichever worker takes it.
      const served = Date.now() + 15_000;
      while ((await statusOf(`${base}/healthz`).catch(() => 0)) !== 200 && Date.now() < served) await sleep(100);
      await sleep(1000);
      for (let i = 0; i < 6; i++) assert.equal(await statusOf(`${base}/healthz`), 200);
      assert.equal(primary.exitCode, null, 'the primary is still running');
    });
  }

  it('never logs the signing key', () => {
    assert.equal(output.includes('worker-restart-test-signing-key'), false);
  });
});
