// @latchkey/verify against a latchkey with SimpleJWT's claim settings away
// from their defaults (LATCHKEY_USER_ID_FIELD, LATCHKEY_*_CLAIM) and sliding
// tokens accepted (LATCHKEY_AUTH_TOKEN_CLASSES): the verifier, given the same
// settings, takes what latchkey's protected routes take and refuses what they
// refuse, with the same answer. (test/verify.test.ts covers the defaults.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createVerifier, VerifyError, type Verifier } from '@latchkey/verify';
import { claimsOf, startServer, TEST_KEY, type TestServer } from './helpers.js';

const PROTECTED = '/api/protected-endpoint/';

async function refusal(p: Promise<unknown>): Promise<VerifyError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof VerifyError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('@latchkey/verify with non-default claim settings', () => {
  let s: TestServer | undefined;
  let verifier: Verifier<string>;
  let tokens: { access: string; refresh: string; sliding: string };
  before(async () => {
    s = await startServer({
      env: {
        LATCHKEY_PRESETS: 'simplejwt,simplejwt-sliding',
        LATCHKEY_USER_ID_FIELD: 'username',
        LATCHKEY_USER_ID_CLAIM: 'sub',
        LATCHKEY_TOKEN_TYPE_CLAIM: 'kind',
        LATCHKEY_JTI_CLAIM: 'token_id',
        LATCHKEY_AUTH_TOKEN_CLASSES: 'access,sliding',
        LATCHKEY_TOKEN_CLAIMS: 'email,is_staff',
      },
    });
    await s.user({ username: 'vera', password: 'pw-vera-12345', email: 'vera@example.com' });
    const pair = (await s.post('/api/token/', { username: 'vera', password: 'pw-vera-12345' })).json() as {
      access: string;
      refresh: string;
    };
    const sliding = (await s.post('/api/token/sliding/', { username: 'vera', password: 'pw-vera-12345' })).json() as { token: string };
    tokens = { ...pair, sliding: sliding.token };
    verifier = createVerifier(
      { secret: TEST_KEY },
      { userIdClaim: 'sub', tokenTypeClaim: 'kind', jtiClaim: 'token_id', userId: 'string', tokenTypes: ['access', 'sliding'] },
    );
  });
  after(() => s?.close());

  it('takes the access and the sliding token, as latchkey does; user_id is the username, the custom claims come along', async () => {
    for (const token of [tokens.access, tokens.sliding]) {
      assert.equal((await s!.get(PROTECTED, token)).statusCode, 200);
      const c = await verifier.verify(token);
      assert.equal(c.user_id, 'vera');
      assert.equal(c.sub, 'vera');
      assert.equal(c.jti, claimsOf(token).token_id);
      assert.equal(c.token_type, claimsOf(token).kind);
      assert.equal(c.email, 'vera@example.com');
      assert.equal(c.is_staff, false);
    }
  });

  it('refuses the refresh token with the answer latchkey gives: each accepted class’s reason', async () => {
    const res = await s!.get(PROTECTED, tokens.refresh);
    assert.equal(res.statusCode, 401);
    const err = await refusal(verifier.authenticate(`Bearer ${tokens.refresh}`));
    assert.equal(err.status, 401);
    assert.deepEqual(err.body, res.json());
    assert.deepEqual(err.body, {
      detail: 'Given token not valid for any token type',
      code: 'token_not_valid',
      messages: [
        { token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' },
        { token_class: 'SlidingToken', token_type: 'sliding', message: 'Token has wrong type' },
      ],
    });
  });

  it('a verifier with the default settings refuses these tokens: no `token_type`', async () => {
    const plain = createVerifier({ secret: TEST_KEY });
    const err = await refusal(plain.verify(tokens.access));
    assert.deepEqual(err.body, {
      detail: 'Given token not valid for any token type',
      code: 'token_not_valid',
      messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has no type' }],
    });
    // Access only: the sliding token is of the wrong type.
    const accessOnly = createVerifier(
      { secret: TEST_KEY },
      { tokenTypeClaim: 'kind', jtiClaim: 'token_id', userIdClaim: 'sub', userId: 'string' },
    );
    assert.equal((await accessOnly.verify(tokens.access)).user_id, 'vera');
    const wrong = await refusal(accessOnly.verify(tokens.sliding));
    assert.equal(wrong.message, 'Token has wrong type');
    // An integer user id is expected by default: a username is no user id.
    const integer = createVerifier({ secret: TEST_KEY }, { tokenTypeClaim: 'kind', jtiClaim: 'token_id', userIdClaim: 'sub' });
    assert.equal((await refusal(integer.verify(tokens.access))).message, 'Token contained no recognizable user identification');
  });

  it('bad options are refused when the verifier is made', () => {
    assert.throws(() => createVerifier({ secret: TEST_KEY }, { tokenTypes: [] }), /`tokenTypes` must list/);
    assert.throws(() => createVerifier({ secret: TEST_KEY }, { tokenTypes: ['refresh' as 'access'] }), /`tokenTypes` must list/);
    assert.throws(() => createVerifier({ secret: TEST_KEY }, { userIdClaim: '' }), /`userIdClaim` must be a non-empty string/);
    assert.throws(() => createVerifier({ secret: TEST_KEY }, { userId: 'uuid' as 'string' }), /`userId` must be/);
  });
});
