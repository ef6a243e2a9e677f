// Crash durability: once a logout (or a rotation) has answered 200, a kill -9
// and restart must not bring the token back. A real `latchkey serve` child
// process on a SQLite file, killed with SIGKILL and started again on the same
// data dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { childEnv, postJson, runCli, startChild, scratchDir, type ChildServer } from './support.js';

const PASSWORD = 'correct-horse-battery-1';

describe('crash and restart (kill -9, real child process)', () => {
  const dir = scratchDir('latchkey-crash-');
  const env = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' };
  let server: ChildServer | undefined;
  before(async () => {
    const r = await runCli(['createuser', '--username', 'alice', '--password', PASSWORD], childEnv(dir, env));
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await server?.stop();
  });

  const login = async (s: ChildServer) => {
    const r = await postJson(`${s.url}/api/token/`, { username: 'alice', password: PASSWORD });
    assert.equal(r.status, 200, r.text);
    return r.json as { access: string; refresh: string };
  };

  it('a refresh token whose logout answered 200 stays refused after kill -9 and restart', async () => {
    server = await startChild({ dir, env });
    const { refresh } = await login(server);
    const out = await postJson(`${server.url}/api/token/blacklist/`, { refresh });
    assert.equal(out.status, 200, out.text);
    // No grace period: the process dies the instant the answer is in.
    await server.kill9();
    assert.equal(server.proc.signalCode, 'SIGKILL');

    server = await startChild({ dir, env });
    const again = await postJson(`${server.url}/api/token/refresh/`, { refresh });
    assert.equal(again.status, 401, `logged-out token accepted after a crash: ${again.text}`);
    assert.deepEqual(again.json, { detail: 'Token is blacklisted', code: 'token_not_valid' });
    const verify = await postJson(`${server.url}/api/token/verify/`, { token: refresh });
    assert.equal(verify.status, 401, verify.text);
    const twice = await postJson(`${server.url}/api/token/blacklist/`, { refresh });
    assert.equal(twice.status, 401, twice.text);
    await server.kill9();
  });

  it('a refresh token rotated out (200) stays refused after kill -9 and restart, and its successor still works', async () => {
    server = await startChild({ dir, env });
    const { refresh: first } = await login(server);
    const rotated = await postJson(`${server.url}/api/token/refresh/`, { refresh: first });
    assert.equal(rotated.status, 200, rotated.text);
    const successor = rotated.json.refresh as string;
    assert.equal(typeof successor, 'string');
    await server.kill9();

    server = await startChild({ dir, env });
    // The successor first: replaying the old one would (rightly) revoke the whole family.
    const next = await postJson(`${server.url}/api/token/refresh/`, { refresh: successor });
    assert.equal(next.status, 200, `successor lost in the crash: ${next.text}`);
    const replay = await postJson(`${server.url}/api/token/refresh/`, { refresh: first });
    assert.equal(replay.status, 401, `rotated-out token accepted after a crash: ${replay.text}`);
    await server.kill9();
  });

  it('a burst of logouts answered 200 just before kill -9 all stay refused after restart', async () => {
    server = await startChild({ dir, env });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => login(server!)));
    const outs = await Promise.all(tokens.map(({ refresh }) => postJson(`${server!.url}/api/token/blacklist/`, { refresh })));
    for (const o of outs) assert.equal(o.status, 200, o.text);
    await server.kill9();

    server = await startChild({ dir, env });
    for (const [i, { refresh }] of tokens.entries()) {
      const r = await postJson(`${server.url}/api/token/refresh/`, { refresh });
      assert.equal(r.status, 401, `logout ${i} lost in the crash: ${r.text}`);
    }
  });
});
