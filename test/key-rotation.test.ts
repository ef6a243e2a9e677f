// Key rotation with no gap (issue 14, item 6): a real latchkey (two workers
// sharing the data dir) and a verifier in another process, a service that
// knows nothing of latchkey but the JWKS URL. `latchkey keys rotate` runs as an
// operator runs it, from the command line, while tokens are verified
// continuously: no valid token is ever refused.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { headerOf, tempDir } from './helpers.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const LIB = new URL('../src/verify/index.js', import.meta.url).href;
const PASSWORD = 'pw-rotation-12345';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));

type Answer = { ok: boolean; status?: number; body?: unknown };

/** A verifier process: one token per line in, one JSON line per token out. */
function startVerifier(jwksUrl: string, options: { cacheMaxAgeMs: number; cooldownMs: number }) {
  const script = `
    import { createInterface } from 'node:readline';
    const { createVerifier, VerifyError } = await import(process.argv[1]);
    const opts = JSON.parse(process.argv[3]);
    const verifier = createVerifier({ jwksUrl: process.argv[2], cacheMaxAgeMs: opts.cacheMaxAgeMs }, { cooldownMs: opts.cooldownMs });
    for await (const token of createInterface({ input: process.stdin })) {
      try {
        await verifier.verify(token);
        console.log(JSON.stringify({ ok: true }));
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        console.log(JSON.stringify({ ok: false, status: err.status, body: err.body }));
      }
    }`;
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--input-type=module', '-e', script, LIB, jwksUrl, JSON.stringify(options)],
    { stdio: 'pipe' },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async ask(token: string): Promise<Answer> {
      child.stdin.write(token + '\n');
      const next = await lines.next();
      assert.equal(next.done, false, `the verifier process ended: ${stderr}`);
      return JSON.parse(next.value as string) as Answer;
    },
    async stop() {
      child.stdin.end();
      await exited(child);
    },
  };
}

describe('key rotation seen by a verifier in another process', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let server: ChildProcess | undefined;
  let base: string;
  let output = '';

  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const login = async (): Promise<string> => {
    const res = await fetch(`${base}/api/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'rota', password: PASSWORD }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { access: string }).access;
  };

  before(async () => {
    dir = tempDir();
    env = {
      ...process.env,
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_ALGORITHM: 'EdDSA',
      LATCHKEY_SIGNING_KEY: '',
      LATCHKEY_LOGIN_THROTTLE: 'off',
      LATCHKEY_LOG_LEVEL: 'warn',
    };
    cli(['createuser', '--username', 'rota', '--password', PASSWORD]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Two workers: each decides on its own, per token, which key signs.
    server = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--workers', '2'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`server exited early:\n${output}`);
      try {
        if ((await fetch(`${base}/healthz`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
      await sleep(100);
    }
  });

  after(async () => {
    if (server) {
      server.kill('SIGTERM');
      await exited(server);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('`keys rotate` (publish-ahead): every valid token verifies throughout, and the new key takes over on every worker', async () => {
    // The verifier keeps the JWKS for 2 s and never refetches early on an
    // unknown kid (10-minute cooldown): only the publish-ahead can spare it a 401.
    const verifier = startVerifier(`${base}/.well-known/jwks.json`, { cacheMaxAgeMs: 2_000, cooldownMs: 600_000 });
    try {
      const oldKid = headerOf(await login()).kid;
      assert.equal((await verifier.ask(await login())).ok, true);
      const r = cli(['keys', 'rotate'], { LATCHKEY_KEY_PUBLISH_AHEAD: '4' });
      assert.match(r.stdout, /published EdDSA key (\S+); it signs from/);
      const newKid = /published EdDSA key (\S+);/.exec(r.stdout)![1];
      const activatesAt = Date.now() + 4_000;

      const refused: Answer[] = [];
      const seen: string[] = [];
      // Tokens minted and verified back to back from before the switch to well after it.
      while (Date.now() < activatesAt + 4_000) {
        const token = await login();
        seen.push(String(headerOf(token).kid));
        const answer = await verifier.ask(token);
        if (!answer.ok) refused.push(answer);
        await sleep(50);
      }
      assert.deepEqual(refused, [], 'no valid token was refused');
      assert.equal(seen[0], oldKid, 'the old key signed until the activation time');
      assert.ok(seen.includes(newKid!), 'the new key signed after it');
      // Once switched, every token from either worker names the new key.
      const lastKids = new Set(seen.slice(seen.lastIndexOf(oldKid as string) + 1));
      assert.deepEqual([...lastKids], [newKid]);
      for (let i = 0; i < 6; i++) assert.equal(headerOf(await login()).kid, newKid);
      const list = JSON.parse(cli(['keys', 'list', '--json']).stdout) as { kid: string; state: string }[];
      assert.deepEqual(
        list.map((k) => [k.kid, k.state]),
        [
          [oldKid, 'retired'],
          [newKid, 'active'],
        ],
      );
    } finally {
      await verifier.stop();
    }
  });

  it('`keys rotate --now` converges: the unknown kid makes the verifier refetch, and a new token is accepted within one retry', async () => {
    // A JWKS cached for 10 minutes: only the unknown-kid refetch can bring the new key.
    const cooldownMs = 1_000;
    const verifier = startVerifier(`${base}/.well-known/jwks.json`, { cacheMaxAgeMs: 600_000, cooldownMs });
    try {
      const oldToken = await login();
      const oldKid = headerOf(oldToken).kid;
      assert.equal((await verifier.ask(oldToken)).ok, true);
      await sleep(cooldownMs + 100); // the verifier's last fetch is past its cooldown
      const r = cli(['keys', 'rotate', '--now'], { LATCHKEY_KEY_PUBLISH_AHEAD: '600' });
      assert.match(r.stderr, /warning: .*may refuse new tokens/);
      // The workers notice the new keys.json within a second.
      let token = await login();
      const deadline = Date.now() + 15_000;
      while (headerOf(token).kid === oldKid && Date.now() < deadline) {
        await sleep(100);
        token = await login();
      }
      assert.notEqual(headerOf(token).kid, oldKid, 'the server signs with the new key');
      let answer = await verifier.ask(token);
      if (!answer.ok) {
        // At worst the verifier fetched within the cooldown: one retry after it.
        await sleep(cooldownMs + 100);
        answer = await verifier.ask(token);
      }
      assert.equal(answer.ok, true, JSON.stringify(answer));
      // The old key's tokens still verify, from the same (refetched) set.
      assert.equal((await verifier.ask(oldToken)).ok, true);
    } finally {
      await verifier.stop();
    }
  });
});
