// Revocation is exact (issue 14, item 3): a logout-all, a password change or a
// deactivation refuses every token minted before it, even in the same second,
// and what is minted after it works. With a frozen clock every token and the
// revocation share one second, which whole-second iat comparisons cannot tell
// apart; with the real clock, logins and refreshes race the change.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { STORAGE_VARIANTS, startServer, type TestServer } from '../helpers.js';

const OLD = 'correct-horse-battery-1';
const NEW = 'new-stapler-orbit-42';

interface Pair {
  access: string;
  refresh: string;
}

const login = (s: TestServer, username: string, password: string) => s.post('/api/token/', { username, password });

async function signIn(s: TestServer, username: string, password = OLD): Promise<Pair> {
  const r = await login(s, username, password);
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as Pair;
}

const protectedRoute = (s: TestServer, access: string) => s.get('/api/protected-endpoint/', access);
const refresh = (s: TestServer, token: string) => s.post('/api/token/refresh/', { refresh: token });
const authorized = (access: string) => ({ authorization: `Bearer ${access}` });

function expectRefused(r: LightMyRequestResponse, label: string): void {
  assert.equal(r.statusCode, 401, `${label}: ${r.statusCode} ${r.body}`);
}

function expectWorks(r: LightMyRequestResponse, label: string): void {
  assert.equal(r.statusCode, 200, `${label}: ${r.statusCode} ${r.body}`);
}

/** Every token of `pairs` is refused: the access token on a protected route, the refresh token on refresh. */
async function expectAllRefused(s: TestServer, pairs: Partial<Pair>[], label: string): Promise<void> {
  for (const [i, p] of pairs.entries()) {
    if (p.access) expectRefused(await protectedRoute(s, p.access), `${label} #${i}: access token`);
    if (p.refresh) expectRefused(await refresh(s, p.refresh), `${label} #${i}: refresh token`);
  }
}

/**
 * Runs `attempt` over and over, several at a time, from before `change` is
 * sent until it has answered; returns what the attempts answered 200 with
 * (`won`; `wonBefore`: those answered before the change was sent), and the
 * change's answer.
 */
async function race<T>(attempt: () => Promise<LightMyRequestResponse>, change: () => Promise<T>, lanes = 4) {
  const won: Record<string, string>[] = [];
  const wonBefore: Record<string, string>[] = [];
  let done = false;
  let sent = false;
  const lane = async () => {
    while (!done) {
      const r = await attempt();
      if (r.statusCode === 200) {
        won.push(r.json() as Record<string, string>);
        if (!sent) wonBefore.push(r.json() as Record<string, string>);
      } else assert.ok([401, 503].includes(r.statusCode), `${r.statusCode} ${r.body}`);
    }
  };
  let failed: Error | undefined;
  const lanesDone = Promise.all(Array.from({ length: lanes }, lane)).catch((err: unknown) => {
    failed = err instanceof Error ? err : new Error(String(err));
    done = true;
  });
  // Let the attempts get going (some answered) before the change.
  while (won.length < lanes && failed === undefined) await new Promise((r) => setTimeout(r, 1));
  sent = true;
  const answer = await change();
  done = true;
  await lanesDone;
  if (failed !== undefined) throw failed;
  return { won, wonBefore, answer };
}

for (const variant of STORAGE_VARIANTS) {
  describe(`exact revocation, every token in one second (${variant.name}, frozen clock)`, () => {
    let s: TestServer;
    const T = Math.floor(Date.now() / 1000);
    before(async () => {
      s = await startServer({ dialect: variant.dialect, storage: variant.opts, now: () => T });
    });
    after(() => s.close());

    it('logout-all refuses the tokens minted before it in the same second; a login after it works', async () => {
      await s.user({ username: 'alice', password: OLD });
      const first = await signIn(s, 'alice');
      const second = await signIn(s, 'alice');
      expectWorks(await s.post('/api/account/logout-all/', undefined, authorized(first.access)), 'logout-all');
      await expectAllRefused(s, [first, second], 'minted before logout-all');
      const later = await signIn(s, 'alice');
      expectWorks(await protectedRoute(s, later.access), 'access token minted after');
      expectWorks(await refresh(s, later.refresh), 'refresh token minted after');
    });

    it('a password change refuses the tokens minted before it in the same second; its fresh pair works', async () => {
      await s.user({ username: 'bob', password: OLD });
      const before = [await signIn(s, 'bob'), await signIn(s, 'bob')];
      const r = await s.post('/api/account/password/', { old_password: OLD, new_password: NEW }, authorized(before[0]!.access));
      expectWorks(r, 'password change');
      const fresh = r.json() as Pair;
      await expectAllRefused(s, before, 'minted before the password change');
      expectWorks(await protectedRoute(s, fresh.access), "the change's fresh access token");
      expectWorks(await refresh(s, fresh.refresh), "the change's fresh refresh token");
      expectWorks(await protectedRoute(s, (await signIn(s, 'bob', NEW)).access), 'a login with the new password');
    });

    it('a deactivation refuses the tokens minted before it in the same second, after reactivation too', async () => {
      const { id } = await s.user({ username: 'carol', password: OLD });
      const before = await signIn(s, 'carol');
      await s.service.setActive(id, false);
      await s.service.setActive(id, true);
      await expectAllRefused(s, [before], 'minted before the deactivation');
      expectWorks(await protectedRoute(s, (await signIn(s, 'carol')).access), 'a login after reactivation');
    });
  });

  describe(`exact revocation, racing requests (${variant.name}, real clock)`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ dialect: variant.dialect, storage: variant.opts });
    });
    after(() => s.close());

    it('no token from a login with the old password works after the password change; logins after it do', async () => {
      await s.user({ username: 'dave', password: OLD });
      const mine = await signIn(s, 'dave');
      const { won, answer } = await race(
        () => login(s, 'dave', OLD),
        () => s.post('/api/account/password/', { old_password: OLD, new_password: NEW }, authorized(mine.access)),
      );
      expectWorks(answer, 'password change');
      assert.ok(won.length >= 4, 'logins with the old password succeeded before the change');
      await expectAllRefused(s, [mine, ...won], 'a login with the old password');
      const fresh = answer.json() as Pair;
      expectWorks(await protectedRoute(s, fresh.access), "the change's fresh access token");
      for (let i = 0; i < 3; i++) {
        const after = await signIn(s, 'dave', NEW);
        expectWorks(await protectedRoute(s, after.access), `login #${i} after the change: access`);
        expectWorks(await refresh(s, after.refresh), `login #${i} after the change: refresh`);
      }
    });

    it('no token from a login or refresh that raced logout-all works after it; logins after it do', async () => {
      await s.user({ username: 'erin', password: OLD });
      const mine = await signIn(s, 'erin');
      const logins = await race(
        () => login(s, 'erin', OLD),
        () => s.post('/api/account/logout-all/', undefined, authorized(mine.access)),
      );
      expectWorks(logins.answer, 'logout-all');
      // A login still running when logout-all was sent may have started after
      // it, as any later login: only those answered before it are surely older.
      assert.ok(logins.wonBefore.length >= 4, 'logins answered before logout-all was sent');
      await expectAllRefused(s, [mine, ...logins.wonBefore], 'a login answered before logout-all');

      const held = await signIn(s, 'erin');
      const refreshes = await race(
        () => refresh(s, held.refresh),
        () => s.post('/api/account/logout-all/', undefined, authorized(held.access)),
      );
      expectWorks(refreshes.answer, 'second logout-all');
      assert.ok(refreshes.won.length >= 4, 'refreshes succeeded before logout-all');
      // Every refresh that succeeded read its token before logout-all revoked it.
      await expectAllRefused(s, refreshes.won, 'an access token refreshed before logout-all');
      const after = await signIn(s, 'erin');
      expectWorks(await protectedRoute(s, after.access), 'a login after logout-all');
      expectWorks(await refresh(s, after.refresh), 'a refresh after logout-all');
    });
  });
}
