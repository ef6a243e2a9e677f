// Storage faults end cleanly (issue 14, item 8): when the database cannot be
// written, writes answer 503 in the preset's envelope, what can still be read
// is served, and no signal kills the process. Real faults, not mocks: a
// `latchkey serve` whose SQLite files are made immutable (chattr +i, as root)
// or whose disk (a small tmpfs) is full, and a PostgreSQL database switched to
// read-only transactions. Each case is skipped where the machine does not allow
// the fault (no chattr, no mount privilege, no TEST_POSTGRES_URL).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freshDatabaseUrl, startServer, type TestServer } from '../helpers.js';
import { postJson, scratchDir, sleep, startChild, type ChildServer } from './support.js';

const PASSWORD = 'correct-horse-battery-1';
const PG = process.env.TEST_POSTGRES_URL;

interface Answer {
  status: number;
  headers: Headers | Record<string, unknown>;
  json: Record<string, unknown>;
  text: string;
}

/** 503 with Retry-After, in the route's envelope: `{"detail": ...}` (simplejwt) or `{"error": ...}` (api-auth). */
function expectUnavailable(r: Answer, envelope: 'detail' | 'error', label: string): void {
  assert.equal(r.status, 503, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.json), [envelope], `${label}: ${r.text}`);
  assert.equal(typeof r.json[envelope], 'string', label);
  const retry = r.headers instanceof Headers ? r.headers.get('retry-after') : r.headers['retry-after'];
  assert.ok(Number(retry) >= 1, `${label}: no Retry-After`);
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether this machine lets the test make a file immutable (root with CAP_LINUX_IMMUTABLE, a filesystem with the flag). */
function canMakeImmutable(): boolean {
  const probe = path.join(scratchDir('latchkey-probe-'), 'probe');
  fs.writeFileSync(probe, 'x');
  const ok = tryRun('chattr', ['+i', probe]);
  if (ok) tryRun('chattr', ['-i', probe]);
  return ok;
}

/** Whether this machine lets the test mount a tmpfs (root in a namespace that allows it). */
function canMountTmpfs(): boolean {
  const dir = scratchDir('latchkey-probe-');
  const ok = tryRun('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (ok) tryRun('umount', [dir]);
  return ok;
}

/** A child server with a user, and the pair of a login made while all was well. */
async function serverWithUser(dir: string): Promise<{ child: ChildServer; pair: { access: string; refresh: string } }> {
  const child = await startChild({ dir, env: { LATCHKEY_WORKERS: '1' } });
  const reg = await postJson(`${child.url}/api/auth/register/`, { username: 'alice', password: PASSWORD, email: 'alice@example.com' });
  assert.equal(reg.status, 201, reg.text);
  const login = await postJson(`${child.url}/api/token/`, { username: 'alice', password: PASSWORD });
  assert.equal(login.status, 200, login.text);
  return { child, pair: login.json as { access: string; refresh: string } };
}

const register = (url: string, username: string) =>
  postJson(`${url}/api/auth/register/`, { username, password: PASSWORD, email: `${username}@example.com` });

async function expectAlive(child: ChildServer, label: string): Promise<void> {
  await sleep(200); // a signal would have landed by now
  assert.equal(child.proc.exitCode, null, `${label}: the server exited:\n${child.output()}`);
  assert.equal(child.proc.signalCode, null, `${label}: the server was killed by ${String(child.proc.signalCode)}`);
}

const SKIP_IMMUTABLE = canMakeImmutable() ? false : 'cannot make files immutable here (needs root and chattr)';
const SKIP_TMPFS = canMountTmpfs() ? false : 'cannot mount a tmpfs here (needs root)';

describe('storage faults: SQLite files made immutable', { skip: SKIP_IMMUTABLE }, () => {
  let child: ChildServer | undefined;
  let files: string[] = [];
  const dir = scratchDir();
  after(async () => {
    if (files.length) tryRun('chattr', ['-i', ...files]);
    await child?.stop();
  });

  it('answers 503 in the envelope instead of dying of SIGBUS, and serves again once the files are writable', async () => {
    const started = await serverWithUser(dir);
    child = started.child;
    files = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('latchkey.sqlite3'))
      .map((f) => path.join(dir, f));
    assert.ok(
      files.some((f) => f.endsWith('-shm')),
      `the WAL index exists: ${files.join(', ')}`,
    );
    assert.ok(tryRun('chattr', ['+i', ...files]), 'chattr +i');
    // Written back, the mapped pages of the WAL index are clean: SQLite's next
    // write to them is a fault the kernel cannot serve (SIGBUS), as it is
    // whenever the files stay immutable long enough.
    assert.ok(tryRun('sync', files), 'sync');

    for (let round = 0; round < 5; round++) {
      expectUnavailable(await postJson(`${child.url}/api/token/`, { username: 'alice', password: PASSWORD }), 'detail', 'login');
      expectUnavailable(await register(child.url, `bob${round}`), 'error', 'register (api-auth)');
      // Reading a WAL database writes its index too: reads are refused as well, never a crash.
      const verify = await postJson(`${child.url}/api/token/verify/`, { token: started.pair.access });
      assert.ok([200, 503].includes(verify.status), `verify: ${verify.status} ${verify.text}`);
      if (verify.status === 503) expectUnavailable(verify, 'detail', 'verify');
    }
    await expectAlive(child, 'immutable files');

    assert.ok(tryRun('chattr', ['-i', ...files]), 'chattr -i');
    files = [];
    const again = await postJson(`${child.url}/api/token/`, { username: 'alice', password: PASSWORD });
    assert.equal(again.status, 200, `login once writable again: ${again.text}`);
    assert.equal((await postJson(`${child.url}/api/token/verify/`, { token: started.pair.access })).status, 200);
  });
});

describe('storage faults: SQLite on a full disk', { skip: SKIP_TMPFS }, () => {
  let child: ChildServer | undefined;
  let mounted = false;
  const dir = scratchDir();
  before(() => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
    mounted = true;
  });
  after(async () => {
    await child?.stop();
    if (mounted) tryRun('umount', [dir]);
  });

  it('writes answer 503 in the envelope, reads go on, the process lives; space back, writes work', async () => {
    const started = await serverWithUser(dir);
    child = started.child;
    // Fill the disk to the last block.
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    const block = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    try {
      for (;;) fs.writeSync(fd, block.subarray(0, 512));
    } catch {
      // full
    }
    fs.closeSync(fd);

    expectUnavailable(await register(child.url, 'bob'), 'error', 'register (api-auth)');
    expectUnavailable(await postJson(`${child.url}/api/token/`, { username: 'alice', password: PASSWORD }), 'detail', 'login');
    const verify = await postJson(`${child.url}/api/token/verify/`, { token: started.pair.access });
    assert.equal(verify.status, 200, `verify (a read): ${verify.text}`);
    const me = await fetch(`${child.url}/api/protected-endpoint/`, { headers: { authorization: `Bearer ${started.pair.access}` } });
    assert.equal(me.status, 200, 'a protected route (a read)');
    await expectAlive(child, 'full disk');

    fs.rmSync(filler);
    const again = await register(child.url, 'carol');
    assert.equal(again.status, 201, `register once there is space: ${again.text}`);
  });
});

describe('storage faults: PostgreSQL in read-only transactions', { skip: PG ? false : 'TEST_POSTGRES_URL is not set' }, () => {
  let s: TestServer;
  let admin: pg.Client;
  let name = '';
  before(async () => {
    const url = await freshDatabaseUrl('postgres');
    name = new URL(url).pathname.slice(1);
    s = await startServer({ dialect: 'postgres', env: { LATCHKEY_DATABASE_URL: url } });
    admin = new pg.Client({ connectionString: PG });
    await admin.connect();
  });
  after(async () => {
    await admin?.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`).catch(() => {});
    await admin?.end();
    await s?.close();
  });

  /**
   * Makes new sessions of the database read-only (or not), and ends the
   * current ones so the pool reconnects; resolves once `probe` (a request)
   * has answered 200, on a fresh connection.
   */
  async function readOnly(on: boolean, probe: () => Promise<{ statusCode: number }>) {
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    // Each pooled connection the server ended fails one query (503) before the pool replaces it.
    for (let i = 0; ; i++) {
      if ((await probe()).statusCode === 200) return;
      assert.ok(i < 100, 'the pool reconnected');
      await sleep(20);
    }
  }

  const answer = async (r: Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>): Promise<Answer> => {
    const res = await r;
    return { status: res.statusCode, headers: res.headers, json: JSON.parse(res.body) as Record<string, unknown>, text: res.body };
  };

  it('writes answer 503 (SQLSTATE 25006) in the envelope, reads go on', async () => {
    await s.user({ username: 'alice', password: PASSWORD });
    const pair = (await s.post('/api/token/', { username: 'alice', password: PASSWORD })).json() as { access: string };
    const verify = () => s.post('/api/token/verify/', { token: pair.access });
    await readOnly(true, verify);
    expectUnavailable(await answer(s.post('/api/token/', { username: 'alice', password: PASSWORD })), 'detail', 'login');
    expectUnavailable(
      await answer(s.post('/api/auth/register/', { username: 'bob', password: PASSWORD, email: 'bob@example.com' })),
      'error',
      'register (api-auth)',
    );
    assert.equal((await s.post('/api/token/verify/', { token: pair.access })).statusCode, 200, 'verify (a read)');
    assert.equal((await s.get('/api/protected-endpoint/', pair.access)).statusCode, 200, 'a protected route (a read)');
    await readOnly(false, () => s.post('/api/token/', { username: 'alice', password: PASSWORD }));
  });
});
