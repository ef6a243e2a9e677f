// The command line, driven as a real child process: `node dist/src/cli.js ...`
// with its own data dir. What an operator sees (exit status, one line on
// stderr, the database afterwards, the log stream) is what is asserted.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { verify as argon2Verify } from '@node-rs/argon2';
import { openStorage } from '../src/storage/open.js';
import type { Storage, UserRecord } from '../src/storage/types.js';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

/** The parent's environment without any latchkey setting, plus the data dir and `extra`. */
function cliEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('LATCHKEY_') || k === 'HOST' || k === 'PORT' || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  return { ...env, LATCHKEY_DATA_DIR: dataDir, ...extra };
}

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { env: NodeJS.ProcessEnv; input?: string; timeout?: number }): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: opts.env,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeout ?? 30_000,
    killSignal: 'SIGKILL',
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const show = (r: Run) => `status ${r.status} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function assertOk(r: Run): void {
  assert.equal(r.status, 0, show(r));
}

/** Asserts a non-zero exit with exactly one non-empty line on stderr, and returns that line. */
function failureLine(r: Run): string {
  assert.equal(r.signal, null, `killed: ${show(r)}`);
  assert.ok(r.status !== null && r.status !== 0, `expected a non-zero exit: ${show(r)}`);
  const lines = r.stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `expected one line on stderr, got ${lines.length}:\n${r.stderr}`);
  return lines[0]!;
}

async function withStorage<T>(dataDir: string, fn: (s: Storage) => Promise<T>): Promise<T> {
  const s = openStorage(`sqlite:${path.join(dataDir, 'latchkey.sqlite3')}`);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const userNamed = (dataDir: string, username: string) => withStorage(dataDir, (s) => s.getUserByUsername(username));

async function mustUser(dataDir: string, username: string): Promise<UserRecord> {
  const u = await userNamed(dataDir, username);
  assert.ok(u, `user ${username} should exist`);
  return u;
}

describe('cli: migrate and user commands', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = tempDir('latchkey-cli-');
    env = cliEnv(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('migrate exits 0, creates the database in the data dir, and can run again', () => {
    const r = run(['migrate'], { env });
    assertOk(r);
    assert.ok(fs.existsSync(path.join(dir, 'latchkey.sqlite3')), 'the SQLite file is in LATCHKEY_DATA_DIR');
    assertOk(run(['migrate'], { env }));
  });

  it('createuser exits 0, prints the new id, and stores the user with a hashed password', async () => {
    const r = run(['createuser', '--username', 'alice', '--password', 'pw-alice-123', '--email', 'a@example.com'], { env });
    assertOk(r);
    const id = /\bid (\d+)\b/.exec(r.stdout)?.[1];
    assert.ok(id, `stdout names the id: ${r.stdout}`);
    const alice = await mustUser(dir, 'alice');
    assert.equal(alice.id, Number(id));
    assert.equal(alice.email, 'a@example.com');
    assert.equal(alice.is_active, true);
    assert.equal(alice.is_staff, false);
    assert.equal(alice.is_superuser, false);
    assert.ok(!alice.password.includes('pw-alice-123'), 'the password is stored hashed');
    assert.equal(await argon2Verify(alice.password, 'pw-alice-123'), true);
    assert.ok(!r.stdout.includes('pw-alice-123') && !r.stderr.includes('pw-alice-123'), 'the password is not echoed');
  });

  it('createuser --staff --phone-number stores both', async () => {
    const r = run(['createuser', '--username', 'bob', '--password', 'pw-bob-4567', '--phone-number', '+14155550123', '--staff'], {
      env,
    });
    assertOk(r);
    const bob = await mustUser(dir, 'bob');
    assert.equal(bob.is_staff, true);
    assert.equal(bob.is_superuser, false);
    assert.equal(bob.phone_number, '+14155550123');
  });

  it('creating alice again exits non-zero with one line saying the username is taken', async () => {
    const before = await mustUser(dir, 'alice');
    const line = failureLine(run(['createuser', '--username', 'alice', '--password', 'another-pw-789'], { env }));
    assert.match(line, /username/i);
    assert.match(line, /already exists|taken/i);
    assert.deepEqual(await mustUser(dir, 'alice'), before, 'the existing alice is untouched');
  });

  it('a taken phone number exits non-zero with one line naming the phone number', async () => {
    const line = failureLine(
      run(['createuser', '--username', 'bob2', '--password', 'pw-bob-4567', '--phone-number', '+14155550123'], { env }),
    );
    assert.match(line, /phone/i);
    assert.equal(await userNamed(dir, 'bob2'), undefined);
  });

  it('a bad email exits non-zero with one line about the email', async () => {
    const line = failureLine(run(['createuser', '--username', 'carol', '--password', 'pw-carol-123', '--email', 'not-an-email'], { env }));
    assert.match(line, /email/i);
    assert.equal(await userNamed(dir, 'carol'), undefined);
  });

  for (const phone of ['12345', '+0123456789', '+44 20 7183 8750', '+1415555012345678']) {
    it(`a phone number that is not E.164 (${phone}) exits non-zero with one line about the phone number`, async () => {
      const line = failureLine(run(['createuser', '--username', 'dave', '--password', 'pw-dave-123', '--phone-number', phone], { env }));
      assert.match(line, /phone/i);
      assert.match(line, /E\.164/);
      assert.equal(await userNamed(dir, 'dave'), undefined);
    });
  }

  it('a missing --username exits non-zero with one line naming --username', () => {
    const line = failureLine(run(['createuser', '--password', 'pw-erin-123'], { env }));
    assert.match(line, /username/);
  });

  it('an invalid username exits non-zero with one line about the username', async () => {
    const line = failureLine(run(['createuser', '--username', 'bad name!', '--password', 'pw-frank-123'], { env }));
    assert.match(line, /username/i);
    assert.equal(await userNamed(dir, 'bad name!'), undefined);
  });

  it('without --password, the password is read from standard input', async () => {
    const r = run(['createuser', '--username', 'grace'], { env, input: 'piped-pass-1\n' });
    assertOk(r);
    const grace = await mustUser(dir, 'grace');
    assert.equal(await argon2Verify(grace.password, 'piped-pass-1'), true, 'the newline is not part of the password');
  });

  it('without --password and with nothing on standard input, it exits non-zero with one line', async () => {
    const line = failureLine(run(['createuser', '--username', 'heidi'], { env, input: '' }));
    assert.match(line, /password/i);
    assert.equal(await userNamed(dir, 'heidi'), undefined);
  });

  it('changepassword with a too-common password exits non-zero with the validator message and changes nothing', async () => {
    const before = await mustUser(dir, 'alice');
    const line = failureLine(run(['changepassword', 'alice', '--password', 'password123'], { env }));
    assert.match(line, /This password is too common\./);
    const after = await mustUser(dir, 'alice');
    assert.equal(after.password, before.password);
    assert.equal(after.tokens_valid_after, before.tokens_valid_after);
  });

  it('changepassword with a short password exits non-zero with the validator message', () => {
    const line = failureLine(run(['changepassword', 'alice', '--password', 'xQ7!'], { env }));
    assert.match(line, /too short/);
  });

  it('changepassword with a good password exits 0, sets the hash, and revokes earlier refresh tokens', async () => {
    const alice = await mustUser(dir, 'alice');
    const jti = 'a'.repeat(32);
    const now = Math.floor(Date.now() / 1000);
    await withStorage(dir, (s) =>
      s.recordOutstanding({ jti, userId: alice.id, familyId: jti, familyIssuedAt: now, createdAt: now, expiresAt: now + 86400 }),
    );
    const r = run(['changepassword', 'alice', '--password', 'Lantern-Harbour-42'], { env });
    assertOk(r);
    const after = await mustUser(dir, 'alice');
    assert.equal(await argon2Verify(after.password, 'Lantern-Harbour-42'), true);
    assert.equal(await argon2Verify(after.password, 'pw-alice-123'), false);
    assert.ok(after.tokens_valid_after !== null && after.tokens_valid_after >= now, 'earlier tokens are refused');
    assert.equal((await withStorage(dir, (s) => s.getTokenState(jti)))?.blacklisted, 'revoked');
    assert.ok(!r.stdout.includes('Lantern-Harbour-42') && !r.stderr.includes('Lantern-Harbour-42'));
  });

  it('changepassword reads the new password from standard input too', async () => {
    assertOk(run(['changepassword', 'grace'], { env, input: 'Quiet-Meadow-Fox-7\n' }));
    assert.equal(await argon2Verify((await mustUser(dir, 'grace')).password, 'Quiet-Meadow-Fox-7'), true);
  });

  it('changepassword for an unknown user exits non-zero with one line naming the user', () => {
    const line = failureLine(run(['changepassword', 'nobody', '--password', 'Lantern-Harbour-42'], { env }));
    assert.match(line, /nobody/);
  });

  it('users deactivate then users activate exit 0 and flip is_active', async () => {
    assertOk(run(['users', 'deactivate', 'alice'], { env }));
    assert.equal((await mustUser(dir, 'alice')).is_active, false);
    assertOk(run(['users', 'activate', 'alice'], { env }));
    assert.equal((await mustUser(dir, 'alice')).is_active, true);
  });

  it("users deactivate revokes the user's refresh tokens", async () => {
    const bob = await mustUser(dir, 'bob');
    const jti = 'b'.repeat(32);
    const now = Math.floor(Date.now() / 1000);
    await withStorage(dir, (s) =>
      s.recordOutstanding({ jti, userId: bob.id, familyId: jti, familyIssuedAt: now, createdAt: now, expiresAt: now + 86400 }),
    );
    assertOk(run(['users', 'deactivate', 'bob'], { env }));
    assert.equal((await withStorage(dir, (s) => s.getTokenState(jti)))?.blacklisted, 'revoked');
  });

  it('users activate/deactivate of an unknown user exits non-zero with one line naming the user', () => {
    assert.match(failureLine(run(['users', 'activate', 'nobody'], { env })), /nobody/);
    assert.match(failureLine(run(['users', 'deactivate', 'nobody'], { env })), /nobody/);
  });

  it('flushexpiredtokens exits 0, deletes the expired records, and prints how many', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tok = (jti: string, expiresAt: number) => ({
      jti,
      userId: 1,
      familyId: jti,
      familyIssuedAt: expiresAt - 86400,
      createdAt: expiresAt - 86400,
      expiresAt,
    });
    await withStorage(dir, async (s) => {
      await s.recordOutstanding(tok('c'.repeat(32), now - 7200));
      await s.recordOutstanding(tok('d'.repeat(32), now - 60));
      await s.blacklist(tok('d'.repeat(32), now - 60), 'logout', now - 3600);
      await s.recordOutstanding(tok('e'.repeat(32), now + 3600));
    });
    // The tokens written by the tests above expire tomorrow and stay.
    const r = run(['flushexpiredtokens'], { env });
    assertOk(r);
    assert.match(r.stdout, /\b2\b/, `prints the count: ${r.stdout}`);
    await withStorage(dir, async (s) => {
      assert.equal(await s.getTokenState('c'.repeat(32)), undefined);
      assert.equal(await s.getTokenState('d'.repeat(32)), undefined);
      assert.equal((await s.getTokenState('e'.repeat(32)))?.blacklisted, null);
      assert.equal((await s.getTokenState('a'.repeat(32)))?.blacklisted, 'revoked');
    });
    const again = run(['flushexpiredtokens'], { env });
    assertOk(again);
    assert.match(again.stdout, /\b0\b/, `prints the count: ${again.stdout}`);
  });

  it('an unknown command exits non-zero with one line naming it', () => {
    const line = failureLine(run(['frobnicate'], { env }));
    assert.match(line, /frobnicate/);
  });

  it('serve --port with a bad value exits non-zero with one line naming --port', () => {
    const line = failureLine(run(['serve', '--port', 'eighty'], { env, timeout: 15_000 }));
    assert.match(line, /--port/);
  });

  it('an unknown option exits non-zero with one line naming it', () => {
    const line = failureLine(run(['migrate', '--frobnicate'], { env }));
    assert.match(line, /--frobnicate/);
  });
});

describe('cli: invalid environment', () => {
  let dir: string;
  before(() => {
    dir = tempDir('latchkey-cli-env-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const commands: string[][] = [
    ['migrate'],
    ['createuser', '--username', 'ivan', '--password', 'pw-ivan-123'],
    ['changepassword', 'ivan', '--password', 'Lantern-Harbour-42'],
    ['users', 'activate', 'ivan'],
    ['flushexpiredtokens'],
    ['serve', '--port', '0'],
  ];
  const bad: [string, string][] = [
    ['LATCHKEY_SIGNING_KEY', 'too-short-for-hs256'],
    ['LATCHKEY_ACCESS_TOKEN_LIFETIME', 'abc'],
    ['LATCHKEY_PRESETS', 'nope'],
  ];
  for (const [name, value] of bad) {
    for (const args of commands) {
      it(`${name}=${value} makes \`${args[0]}\` exit non-zero with one line naming the variable`, () => {
        const line = failureLine(run(args, { env: cliEnv(dir, { [name]: value }), timeout: 15_000 }));
        assert.match(line, new RegExp(name));
        assert.ok(!line.includes('    at '), 'no stack trace');
      });
    }
  }

  for (const [name, value] of [
    ['LATCHKEY_REFRESH_TOKEN_LIFETIME', '-5'],
    ['LATCHKEY_ALGORITHM', 'none'],
    ['LATCHKEY_LOGIN_THROTTLE', 'maybe'],
    ['LATCHKEY_DATABASE_URL', 'mysql://localhost/latchkey'],
    ['PORT', '99999'],
  ] as const) {
    it(`${name}=${value} makes \`serve\` exit non-zero with one line naming the variable`, () => {
      const line = failureLine(run(['serve'], { env: cliEnv(dir, { [name]: value }), timeout: 15_000 }));
      assert.match(line, new RegExp(name));
    });
  }

  it('the signing key is never echoed in the error', () => {
    const key = 'short-secret-key-value';
    const r = run(['migrate'], { env: cliEnv(dir, { LATCHKEY_SIGNING_KEY: key }) });
    failureLine(r);
    assert.ok(!r.stderr.includes(key) && !r.stdout.includes(key));
  });
});

// ---- serve ---------------------------------------------------------------

interface Served {
  child: ChildProcess;
  url: string;
  /** Everything it wrote so far, stdout then stderr interleaved as received. */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

function startServe(env: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return new Promise<Served>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${out}`)), 60_000);
    let started = false;
    const onData = (chunk: string) => {
      out += chunk;
      if (started) return;
      const m = /"msg":"Server listening at (http:\/\/[^"]+)"/.exec(out);
      if (!m) return;
      started = true;
      clearTimeout(timer);
      resolve({ child, url: m[1]!, output: () => out, exit });
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`serve exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
}

/** The complete JSON log lines so far (a line still being written is left out). */
function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Every string in a JSON value that looks like a compact JWS. */
function jwtsIn(value: unknown, found: string[] = []): string[] {
  if (typeof value === 'string' && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value)) found.push(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) jwtsIn(v, found);
  return found;
}

/** Names of the secrets that appear anywhere in the output; a token's signature alone counts too. */
function leaks(output: string, secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [name, secret] of secrets) {
    if (output.includes(secret)) found.push(name);
    else if (secret.split('.').length === 3 && output.includes(secret.split('.')[2]!)) found.push(`${name} (signature)`);
  }
  return found;
}

async function postJson(base: string, url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(url, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Runs a serve test body; on failure, the server's own output is attached to the error. */
async function withLog(served: () => Served | undefined, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const out = served()?.output();
    if (out !== undefined && err instanceof Error) err.message += `\n--- server output ---\n${out}`;
    throw err;
  }
}

describe('cli: serve', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const secrets = new Map<string, string>();
  let firstRunAccess = '';
  let firstRunRefresh = '';
  let key = '';
  before(() => {
    dir = tempDir('latchkey-serve-');
    env = cliEnv(dir, { LATCHKEY_LOG_LEVEL: 'debug' });
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let first: Served;

  it('with no LATCHKEY_SIGNING_KEY, the first start writes <data dir>/signing.key (0600) and warns without the key', async () => {
    const file = path.join(dir, 'signing.key');
    assert.equal(fs.existsSync(file), false);
    first = await startServe(env);
    assert.ok(fs.existsSync(file), 'signing.key written');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    key = fs.readFileSync(file, 'utf8').trim();
    assert.ok(Buffer.byteLength(key) >= 32, `key of ${Buffer.byteLength(key)} bytes`);
    secrets.set('signing key', key);
    const warnings = logLines(first.output()).filter((l) => l.level === 40);
    assert.ok(
      warnings.some((l) => /signing key/i.test(String(l.msg))),
      `a level-40 warning about the generated key:\n${first.output()}`,
    );
    assert.deepEqual(leaks(first.output(), secrets), []);
  });

  it('serves real HTTP logins, and the log never holds a password, a token or the key', async () => {
    await withLog(
      () => first,
      async () => {
        const password = 'S3cret-Login-Pass!';
        secrets.set('password', password);
        assertOk(run(['createuser', '--username', 'alice', '--password', password], { env }));
        const base = first.url;

        const login = await postJson(base, '/api/token/', { username: 'alice', password });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        firstRunAccess = String(login.body.access);
        firstRunRefresh = String(login.body.refresh);
        secrets.set('access token', firstRunAccess);
        secrets.set('refresh token', firstRunRefresh);

        const wrong = 'Wr0ng-Guess-Passphrase';
        secrets.set('wrong password', wrong);
        assert.equal((await postJson(base, '/api/token/', { username: 'alice', password: wrong })).status, 401);
        assert.equal((await postJson(base, '/api/token/', { username: 'mallory', password: wrong })).status, 401);

        const form = await fetch(new URL('/api/token/', base), {
          method: 'POST',
          body: new URLSearchParams({ username: 'alice', password }),
        });
        assert.equal(form.status, 200);
        const formPair = (await form.json()) as { access: string; refresh: string };
        secrets.set('form access token', formPair.access);
        secrets.set('form refresh token', formPair.refresh);

        assert.equal((await postJson(base, '/api/token/verify/', { token: firstRunAccess })).status, 200);
        const refreshed = await postJson(base, '/api/token/refresh/', { refresh: firstRunRefresh });
        assert.equal(refreshed.status, 200);
        for (const t of jwtsIn(refreshed.body)) secrets.set(`refreshed ${t.slice(-8)}`, t);

        const me = await fetch(new URL('/api/protected-endpoint/', base), { headers: { authorization: `Bearer ${firstRunAccess}` } });
        assert.equal(me.status, 200);
        // A token pasted in a query string, next to a bad header: a logged 401.
        const pasted = await fetch(new URL(`/api/protected-endpoint/?token=${firstRunAccess}`, base), {
          headers: { authorization: `Bearer ${formPair.access}x` },
        });
        assert.equal(pasted.status, 401);

        const regPassword = 'Reg1stered-Pass-Phrase';
        secrets.set('registration password', regPassword);
        const reg = await postJson(base, '/api/auth/register/', { username: 'bob', password: regPassword, email: 'bob@example.com' });
        assert.equal(reg.status, 201, JSON.stringify(reg.body));
        for (const t of jwtsIn(reg.body)) secrets.set(`registration token ${t.slice(-8)}`, t);

        assert.equal((await postJson(base, '/api/token/blacklist/', { refresh: formPair.refresh })).status, 200);
        assert.equal((await postJson(base, '/api/token/blacklist/', { refresh: formPair.refresh })).status, 401);

        const broken = await fetch(new URL('/api/token/', base), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: `{"username": "alice", "password": "${password}"`,
        });
        assert.equal(broken.status, 400);

        await sleep(200);
        const lines = logLines(first.output());
        assert.ok(
          lines.some((l) => l.status === 401),
          'failed requests are logged (so this check is not vacuous)',
        );
        assert.ok(
          lines.some((l) => l.status === 200),
          'at debug level, successes are logged too',
        );
        assert.deepEqual(leaks(first.output(), secrets), []);
      },
    );
  });

  it('SIGTERM lets an in-flight login finish, then exits 0 within a few seconds', async () => {
    await withLog(
      () => first,
      async () => {
        const body = JSON.stringify({ username: 'alice', password: secrets.get('password') });
        const agent = new http.Agent({ keepAlive: true });
        const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request(
            new URL('/api/token/', first.url),
            { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
            (res) => {
              let text = '';
              res.setEncoding('utf8').on('data', (c: string) => (text += c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
          );
          req.on('error', reject);
          // Headers and half the body now; the rest only after SIGTERM. The server
          // has the request in hand when the signal arrives.
          req.write(body.slice(0, 10));
          setTimeout(() => {
            first.child.kill('SIGTERM');
            setTimeout(() => req.end(body.slice(10)), 150);
          }, 200);
        });
        const started = Date.now();
        const res = await response;
        agent.destroy();
        assert.equal(res.status, 200, res.body);
        const pair = JSON.parse(res.body) as { access: string; refresh: string };
        assert.ok(pair.access && pair.refresh);
        secrets.set('in-flight access token', pair.access);
        secrets.set('in-flight refresh token', pair.refresh);

        const exited = await Promise.race([first.exit, sleep(8_000).then(() => 'timeout' as const)]);
        assert.notEqual(exited, 'timeout', `still running 8 s after SIGTERM:\n${first.output()}`);
        assert.deepEqual(exited, { code: 0, signal: null });
        assert.ok(Date.now() - started < 5_000, `exited ${Date.now() - started} ms after SIGTERM`);
        assert.deepEqual(leaks(first.output(), secrets), []);
      },
    );
  });

  it('a second start reuses the key: a token from the first run still verifies', async () => {
    let second: Served | undefined;
    const file = path.join(dir, 'signing.key');
    assert.equal(fs.readFileSync(file, 'utf8').trim(), key, 'the key file is unchanged');
    await withLog(
      () => second,
      async () => {
        second = await startServe(env);
        assert.equal(fs.readFileSync(file, 'utf8').trim(), key, 'the key file is unchanged');
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.ok(
          !logLines(second.output()).some((l) => l.level === 40 && /generated/i.test(String(l.msg))),
          'no "generated a new key" warning on the second start',
        );
        const verified = await postJson(second.url, '/api/token/verify/', { token: firstRunAccess });
        assert.equal(verified.status, 200, JSON.stringify(verified.body));
        const forged = await postJson(second.url, '/api/token/verify/', { token: `${firstRunAccess.slice(0, -4)}AAAA` });
        assert.equal(forged.status, 401, 'a token with another signature does not verify');
        const inFlight = secrets.get('in-flight refresh token')!;
        const refreshed = await postJson(second.url, '/api/token/refresh/', { refresh: inFlight });
        assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));

        second.child.kill('SIGTERM');
        const exited = await Promise.race([second.exit, sleep(8_000).then(() => 'timeout' as const)]);
        assert.deepEqual(exited, { code: 0, signal: null });
        assert.deepEqual(leaks(second.output(), secrets), []);
      },
    );
  });
});
