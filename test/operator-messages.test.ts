// What an operator reads when `latchkey serve` cannot start, or starts with a
// generated key: each message names what failed and how to fix it, gives no
// advice that another setting contradicts, and never shows a password. The CLI
// runs as a child process; every child is stopped on every path.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { tempDir } from './helpers.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** The environment without the caller's LATCHKEY_* settings, plus these. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LATCHKEY_') && k !== 'HOST' && k !== 'PORT' && !k.startsWith('NODE_TEST')) out[k] = v;
  }
  return { ...out, LATCHKEY_DATA_DIR: tempDir(), ...extra };
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** True if it got as far as listening (and was then stopped by the test). */
  listened: boolean;
}

/** Runs `latchkey serve --port 0` until it exits, or until it listens (then stops it with SIGTERM and waits for it). */
function serve(extra: Record<string, string>, args: string[] = []): Promise<Outcome> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let listened = false;
  const onData = () => {
    if (!listened && /latchkey is serving/.test(stdout + stderr)) {
      listened = true;
      child.kill('SIGTERM');
    }
  };
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    onData();
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    onData();
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr, listened });
    }),
  );
}

/** A TCP port nothing listens on (one the kernel just gave out and took back). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('operator messages: the database', () => {
  it('an unreachable PostgreSQL names host:port and the driver’s reason, and not the password', async () => {
    const port = await closedPort();
    const r = await serve({ LATCHKEY_DATABASE_URL: `postgres://latchkey:Sup3r-Secret-pw@127.0.0.1:${port}/authdb` });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.listened, false);
    assert.match(r.stderr, new RegExp(`cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}, database "authdb"`));
    assert.match(r.stderr, /ECONNREFUSED/);
    assert.match(r.stderr, /LATCHKEY_DATABASE_URL/);
    assert.doesNotMatch(r.stderr, /unexpected error/);
    assert.doesNotMatch(r.stdout + r.stderr, /Sup3r-Secret-pw/);
  });

  it('a host that does not resolve is named with the resolver’s reason', async () => {
    const r = await serve({ LATCHKEY_DATABASE_URL: 'postgres://latchkey@db.latchkey-test.invalid:6543/authdb' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach PostgreSQL at db\.latchkey-test\.invalid:6543/);
    assert.match(r.stderr, /ENOTFOUND|EAI_AGAIN/);
  });

  const pgUrl = process.env.TEST_POSTGRES_URL;
  it(
    'a server that refuses the user names the user and PostgreSQL’s reason',
    { skip: pgUrl ? false : 'TEST_POSTGRES_URL is not set' },
    async () => {
      const u = new URL(pgUrl!);
      u.username = 'latchkey_no_such_role';
      u.password = 'Sup3r-Secret-pw';
      const r = await serve({ LATCHKEY_DATABASE_URL: u.toString() });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`PostgreSQL at ${u.hostname}:${u.port || 5432}.* refused latchkey \\(user "latchkey_no_such_role"\\)`),
      );
      assert.match(r.stderr, /latchkey_no_such_role/);
      assert.doesNotMatch(r.stdout + r.stderr, /Sup3r-Secret-pw/);
    },
  );
});

describe('operator messages: the presets', () => {
  for (const args of [[], ['--workers', '2']]) {
    it(`LATCHKEY_PRESETS=account alone refuses to start${args.length ? ' (with --workers)' : ''}: no route issues a token`, async () => {
      const r = await serve({ LATCHKEY_PRESETS: 'account' }, args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.listened, false);
      assert.match(r.stderr, /LATCHKEY_PRESETS=account mounts no route that issues tokens/);
      assert.match(r.stderr, /LATCHKEY_PRESETS=simplejwt,account/);
    });
  }

  it('a registration that answers no token does not count as a way in, a login does', async () => {
    // users registers with {id, username} but also has logins: it starts.
    const r = await serve({ LATCHKEY_PRESETS: 'users,account' });
    assert.equal(r.listened, true, r.stdout + r.stderr);
  });
});

describe('operator messages: the first-start key warning', () => {
  const warnings = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40 && /generated a new/.test(l.msg))
      .map((l) => l.msg);

  it('EdDSA: advises on the key pair, never LATCHKEY_SIGNING_KEY (a startup error with EdDSA)', async () => {
    const r = await serve({ LATCHKEY_ALGORITHM: 'EdDSA' });
    assert.equal(r.listened, true, r.stdout + r.stderr);
    const [warning, ...more] = warnings(r.stdout + r.stderr);
    assert.ok(warning, r.stdout + r.stderr);
    assert.deepEqual(more, []);
    assert.doesNotMatch(warning, /LATCHKEY_SIGNING_KEY/);
    assert.match(warning, /EdDSA key pair/);
    assert.match(warning, /LATCHKEY_PRIVATE_KEYS_FILE/);

    // The advice holds: following it is not a startup error, while what it avoids is.
    const contradicted = await serve({ LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: 'x'.repeat(40) });
    assert.equal(contradicted.code, 1);
    assert.match(contradicted.stderr, /LATCHKEY_SIGNING_KEY: is an HMAC secret, but LATCHKEY_ALGORITHM is EdDSA/);
  });

  it('HMAC: advises LATCHKEY_SIGNING_KEY', async () => {
    const r = await serve({});
    assert.equal(r.listened, true, r.stdout + r.stderr);
    const [warning] = warnings(r.stdout + r.stderr);
    assert.match(warning ?? '', /HS256 signing key .*LATCHKEY_SIGNING_KEY/);
  });
});
