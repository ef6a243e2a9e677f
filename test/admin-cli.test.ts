// The admin commands of issue 7, driven as real child processes: `users
// list|show|delete` and `sessions list|revoke`, as tables and as --json.
// Logins are made in this process through the service, on the same database,
// as clients of a running server would make them. SQLite only, as in
// cli.test.ts (a CLI start costs about a second); the storage calls behind
// these commands run on every dialect in storage.test.ts and account.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { ApiError } from '../src/errors.js';
import { createService } from '../src/latchkey.js';
import type { Client, TokenPair } from '../src/service.js';
import { claimsOf, dropDatabase, freshDatabaseUrl, tempDir, TEST_KEY, type DialectName } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const PASSWORD = 'pw-admin-cli-123';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without any latchkey setting, plus `extra`. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('LATCHKEY_') || k === 'HOST' || k === 'PORT' || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const show = (r: Run) => `status ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function ok(r: Run): string {
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stderr, '', show(r));
  return r.stdout;
}

/** A non-zero exit with exactly one line on stderr; returns it. */
function failureLine(r: Run): string {
  assert.ok(r.status !== null && r.status !== 0, `expected a non-zero exit: ${show(r)}`);
  const lines = r.stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `expected one line on stderr:\n${r.stderr}`);
  return lines[0]!;
}

/** A table's lines, each split on its runs of two or more spaces. */
const rows = (out: string) =>
  out
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {2,}/));

const refused = (err: unknown) => {
  assert.ok(err instanceof ApiError, String(err));
  assert.equal(err.code, 'token_not_valid');
  return true;
};

for (const dialect of ['sqlite'] as DialectName[]) {
  describe(`admin cli (${dialect})`, () => {
    let dir: string;
    let url: string;
    let env: NodeJS.ProcessEnv;
    let ctx: Awaited<ReturnType<typeof createService>>;
    const login = (username: string, client: Client): Promise<TokenPair> => ctx.service.login(username, PASSWORD, 'username', client);

    before(async () => {
      dir = tempDir('latchkey-admin-cli-');
      url = await freshDatabaseUrl(dialect, dir);
      const vars = {
        LATCHKEY_DATA_DIR: dir,
        LATCHKEY_DATABASE_URL: url,
        LATCHKEY_SIGNING_KEY: TEST_KEY,
        LATCHKEY_LOG_LEVEL: 'silent',
        LATCHKEY_LOGIN_THROTTLE: 'off',
      };
      env = cliEnv(vars);
      ctx = await createService(loadConfig(vars));
    });
    after(async () => {
      await ctx?.close();
      await dropDatabase(url);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('with nobody yet, the listings say so, and --json prints empty lists', () => {
      assert.equal(ok(run(['users', 'list'], env)).trim(), 'no users');
      assert.deepEqual(JSON.parse(ok(run(['users', 'list', '--json'], env))), []);
      assert.equal(ok(run(['sessions', 'list'], env)).trim(), 'no live sessions');
      assert.deepEqual(JSON.parse(ok(run(['sessions', 'list', '--json'], env))), []);
    });

    it('users list: a table of id, username, email, active, staff, date_joined, last_login', async () => {
      const opts = { passwordPolicy: false } as const;
      const alice = await ctx.service.register({ username: 'alice', password: PASSWORD, email: 'alice@example.com' }, opts);
      const bob = await ctx.service.register({ username: 'bob', password: PASSWORD }, { ...opts, staff: true });
      await login('alice', { address: '127.0.0.1' });
      const table = rows(ok(run(['users', 'list'], env)));
      assert.deepEqual(table[0], ['id', 'username', 'email', 'active', 'staff', 'date_joined', 'last_login']);
      const [a, b] = [table[1]!, table[2]!];
      assert.deepEqual(a.slice(0, 5), [String(alice.id), 'alice', 'alice@example.com', 'yes', 'no']);
      assert.match(a[5]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(a[6]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'alice has logged in');
      // bob has no email (a blank column, so one cell fewer here) and never logged in.
      assert.deepEqual([...b.slice(0, 4), b[5]], [String(bob.id), 'bob', 'yes', 'yes', '-']);
      assert.match(b[4]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(table.length, 3);
    });

    it('users list --json: every profile, never a password', async () => {
      const out = ok(run(['users', 'list', '--json'], env));
      const users = JSON.parse(out) as Record<string, unknown>[];
      assert.deepEqual(
        users.map((u) => u.username),
        ['alice', 'bob'],
      );
      assert.deepEqual(Object.keys(users[0]!), [
        'id',
        'username',
        'email',
        'phone_number',
        'first_name',
        'last_name',
        'address',
        'postal_code',
        'birthdate',
        'profile_image',
        'is_active',
        'is_staff',
        'is_superuser',
        'date_joined',
        'last_login',
      ]);
      assert.equal(users[1]!.is_staff, true);
      assert.equal(users[1]!.last_login, null);
      assert.ok(!out.includes('argon2') && !out.includes('"password"'));
    });

    it('users show: one profile and its live session count, as a table or --json', async () => {
      const table = rows(ok(run(['users', 'show', 'alice'], env)));
      const fields = new Map(table.slice(1).map(([k, v]) => [k!, v ?? '']));
      assert.equal(fields.get('username'), 'alice');
      assert.equal(fields.get('email'), 'alice@example.com');
      assert.equal(fields.get('is_staff'), 'no');
      assert.equal(fields.get('phone_number'), '-');
      assert.equal(fields.get('sessions'), '1');
      const json = JSON.parse(ok(run(['users', 'show', 'alice', '--json'], env))) as Record<string, unknown>;
      assert.equal(json.username, 'alice');
      assert.equal(json.sessions, 1);
      assert.equal(json.password, undefined);
      assert.match(failureLine(run(['users', 'show', 'nobody'], env)), /nobody/);
    });

    it('two clients sign in, the sessions are listed, one is revoked: it can no longer refresh, the other still can', async () => {
      const laptop = await login('alice', { address: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' });
      const phone = await login('alice', { address: '198.51.100.23', userAgent: 'latchkey-ios/2.1' });
      const out = ok(run(['sessions', 'list', '--user', 'alice', '--json'], env));
      const sessions = JSON.parse(out) as { id: number; user_agent: string; ip_address: string; username: string; user_id: number }[];
      assert.equal(sessions.length, 3, 'the earlier login too');
      const byAgent = new Map(sessions.map((x) => [x.user_agent, x]));
      assert.equal(byAgent.get('latchkey-ios/2.1')?.ip_address, '198.51.100.23');
      assert.equal(byAgent.get('Mozilla/5.0 (X11; Linux x86_64)')?.ip_address, '203.0.113.7');
      assert.ok(sessions.every((x) => x.username === 'alice'));
      for (const t of [laptop.refresh, phone.refresh]) assert.ok(!out.includes(String(claimsOf(t).jti)), 'no jti in the listing');

      const table = ok(run(['sessions', 'list'], env));
      assert.deepEqual(rows(table)[0], ['id', 'user', 'created_at', 'last_used_at', 'ip_address', 'user_agent']);
      assert.match(table, /latchkey-ios\/2\.1/);

      const target = byAgent.get('Mozilla/5.0 (X11; Linux x86_64)')!;
      assert.match(ok(run(['sessions', 'revoke', String(target.id)], env)), new RegExp(`session ${target.id} revoked`));
      await assert.rejects(ctx.service.refresh(laptop.refresh, { rotate: false }), refused);
      assert.ok((await ctx.service.refresh(phone.refresh, { rotate: false })).access, 'the other client still refreshes');

      const left = JSON.parse(ok(run(['sessions', 'list', '--user', 'alice', '--json'], env))) as { id: number }[];
      assert.ok(!left.some((x) => x.id === target.id));
      assert.equal(left.length, 2);
      assert.match(failureLine(run(['sessions', 'revoke', String(target.id)], env)), new RegExp(`no live session with id ${target.id}`));
    });

    it('sessions revoke and list refuse bad input with one line', () => {
      for (const id of ['abc', '0']) assert.match(failureLine(run(['sessions', 'revoke', id], env)), /id/);
      assert.match(failureLine(run(['sessions', 'revoke', '999999'], env)), /no live session with id 999999/);
      assert.match(failureLine(run(['sessions', 'list', '--user', 'nobody'], env)), /nobody/);
    });

    it('a user agent cannot drive the terminal: control characters are shown escaped', async () => {
      await login('bob', { address: '127.0.0.1', userAgent: 'evil\u001b[2J\u009b31m\u202eagent' });
      const table = ok(run(['sessions', 'list', '--user', 'bob'], env));
      // eslint-disable-next-line no-control-regex -- raw control characters in the output are what this looks for
      assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(table), JSON.stringify(table));
      assert.match(table, /evil\\u\{1b\}\[2J\\u\{9b\}31m\\u\{202e\}agent/);
      const json = ok(run(['sessions', 'list', '--user', 'bob', '--json'], env));
      // eslint-disable-next-line no-control-regex -- raw control characters in the output are what this looks for
      assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(json), JSON.stringify(json));
      assert.equal((JSON.parse(json) as { user_agent: string }[])[0]?.user_agent, 'evil\u001b[2J\u009b31m\u202eagent', 'the JSON is exact');
    });

    it('users delete needs --yes; then the user is gone and their sessions revoked', async () => {
      const bob = (await ctx.storage.getUserByUsername('bob'))!;
      const pair = await login('bob', { address: '127.0.0.1' });
      const line = failureLine(run(['users', 'delete', 'bob'], env));
      assert.match(line, /--yes/);
      assert.match(line, /bob/);
      assert.ok(await ctx.storage.getUserByUsername('bob'), 'still there');

      ok(run(['users', 'delete', 'bob', '--yes'], env));
      assert.equal(await ctx.storage.getUserById(bob.id), undefined);
      assert.equal((await ctx.storage.getTokenState(String(claimsOf(pair.refresh).jti)))?.blacklisted, 'revoked');
      assert.deepEqual(await ctx.storage.listSessions({ userId: bob.id }, ctx.service.now()), []);
      const users = JSON.parse(ok(run(['users', 'list', '--json'], env))) as { username: string }[];
      assert.deepEqual(
        users.map((u) => u.username),
        ['alice'],
      );
      assert.match(failureLine(run(['users', 'delete', 'bob', '--yes'], env)), /bob/);
    });
  });
}
