// Preset files (issue 16): a made-up backend's API written as a JSON and as a
// YAML preset file, mounted by LATCHKEY_PRESETS beside a built-in preset and
// driven over HTTP as its front-end would; login by email; and the one-line
// error, with its JSON path, of each kind of bad file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { stringify } from 'yaml';
import { ConfigError } from '../src/errors.js';
import { readPresetFile } from '../src/presets/files.js';
import { PRESETS, selectPresets } from '../src/presets/index.js';
import { claimsOf, DIALECTS, startServer, tempDir, type TestServer } from './helpers.js';
import { ACME } from './preset-fixture.js';

const V1 = '/api/v1/auth';
const WRONG = { error: 'Wrong email or password.' };

function writeFile(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, name.endsWith('.json') ? JSON.stringify(value, null, 2) : stringify(value));
  return file;
}

for (const dialect of DIALECTS) {
  describe(`a preset file for a made-up backend, beside simplejwt (${dialect})`, () => {
    let s: TestServer | undefined;
    let server: TestServer;
    let janeId: number;
    before(async () => {
      const file = writeFile(tempDir(), 'acme.json', ACME);
      server = s = await startServer({ dialect, env: { LATCHKEY_PRESETS: `simplejwt,${file}` } });
      ({ id: janeId } = await server.user({ username: 'jane', password: 'correct-horse-42', email: 'jane@example.com' }));
    });
    after(() => s?.close());

    const login = (email: string, password = 'correct-horse-42') => server.post(`${V1}/jwt/create/`, { email, password });
    const whoami = (authorization: string) => server.request({ method: 'GET', url: `${V1}/whoami/`, headers: { authorization } });

    it('logs in by email, in any case, and answers a pair for that user', async () => {
      for (const email of ['jane@example.com', 'Jane@EXAMPLE.com']) {
        const res = await login(email);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ access: string; refresh: string }>();
        assert.deepEqual(Object.keys(body).sort(), ['access', 'refresh']);
        assert.equal(claimsOf(body.access).user_id, janeId);
      }
    });

    it('refuses a wrong password, an unknown email and a username in its own error body', async () => {
      for (const email of ['jane@example.com', 'nobody@example.com', 'jane']) {
        const res = await login(email, email === 'jane@example.com' ? 'wrong-password' : 'correct-horse-42');
        assert.equal(res.statusCode, 401, email);
        assert.deepEqual(res.json(), WRONG);
      }
    });

    it('the protected route takes the JWT header type only', async () => {
      const { access } = (await login('jane@example.com')).json<{ access: string }>();
      const ok = await whoami(`JWT ${access}`);
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { username: 'jane' });
      const bearer = await whoami(`Bearer ${access}`);
      assert.equal(bearer.statusCode, 401);
      assert.match(String(bearer.headers['www-authenticate']), /^JWT /);
      assert.ok('error' in bearer.json<object>(), bearer.body);
    });

    it('refresh reads refresh_token and rotates (the file says rotate); a rotated-out token gets its own message', async () => {
      const { refresh } = (await login('jane@example.com')).json<{ refresh: string }>();
      const res = await server.post(`${V1}/jwt/refresh/`, { refresh_token: refresh });
      assert.equal(res.statusCode, 200, res.body);
      const pair = res.json<{ access: string; refresh: string }>();
      assert.deepEqual(Object.keys(pair).sort(), ['access', 'refresh']);
      assert.notEqual(pair.refresh, refresh);
      const wrongField = await server.post(`${V1}/jwt/refresh/`, { refresh: pair.refresh });
      assert.equal(wrongField.statusCode, 400);
      const bad = await server.post(`${V1}/jwt/refresh/`, { refresh_token: 'not-a-token' });
      assert.equal(bad.statusCode, 401);
      assert.deepEqual(bad.json(), { error: 'Session expired, sign in again.' });
    });

    it('verify reads jwt', async () => {
      const { access } = (await login('jane@example.com')).json<{ access: string }>();
      const res = await server.post(`${V1}/jwt/verify/`, { jwt: access });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), {});
      assert.equal((await server.post(`${V1}/jwt/verify/`, { token: access })).statusCode, 400);
    });

    it('logout blacklists the refresh token; its override answers a missing field', async () => {
      const { refresh } = (await login('jane@example.com')).json<{ refresh: string }>();
      const res = await server.post(`${V1}/logout/`, { refresh_token: refresh });
      assert.equal(res.statusCode, 200, res.body);
      const again = await server.post(`${V1}/jwt/refresh/`, { refresh_token: refresh });
      assert.equal(again.statusCode, 401);
      assert.deepEqual(again.json(), { error: 'Session expired, sign in again.' });
      const missing = await server.post(`${V1}/logout/`, {});
      assert.equal(missing.statusCode, 400);
      assert.deepEqual(missing.json(), { error: 'refresh_token is required.' });
    });

    it('mounts nothing outside its prefix, and simplejwt beside it is untouched', async () => {
      assert.equal((await server.post('/auth/jwt/create/', { email: 'jane@example.com', password: 'correct-horse-42' })).statusCode, 404);
      const res = await server.post('/api/token/', { username: 'jane', password: 'correct-horse-42' });
      assert.equal(res.statusCode, 200, res.body);
      const wrong = await server.post('/api/token/', { username: 'jane', password: 'nope' });
      assert.deepEqual(wrong.json(), { detail: 'No active account found with the given credentials' });
    });

    it("the API docs list the file's routes under its prefix, in valid OpenAPI", async () => {
      const res = await server.request({ method: 'GET', url: '/api/schema/' });
      assert.equal(res.statusCode, 200);
      const doc = res.json<{ paths: Record<string, Record<string, { operationId: string; tags: string[] }>>; tags: { name: string }[] }>();
      const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
      assert.equal(result.valid, true, JSON.stringify(result.errors));
      const acme = Object.entries(doc.paths).flatMap(([p, item]) =>
        Object.entries(item)
          .filter(([, op]) => op.tags?.includes('acme'))
          .map(([m, op]) => `${m.toUpperCase()} ${p} ${op.operationId}`),
      );
      assert.deepEqual(acme.sort(), [
        'GET /api/v1/auth/whoami/ acme_me',
        'POST /api/v1/auth/jwt/create/ acme_login',
        'POST /api/v1/auth/jwt/refresh/ acme_refresh',
        'POST /api/v1/auth/jwt/verify/ acme_verify',
        'POST /api/v1/auth/logout/ acme_blacklist',
      ]);
      assert.ok(doc.tags.some((t) => t.name === 'acme'));
    });

    it('an email two active accounts share logs into neither; once one is inactive, the other logs in', async () => {
      const a = await server.user({ username: 'sam1', password: 'pw-of-sam-one', email: 'sam@example.com' });
      await server.user({ username: 'sam2', password: 'pw-of-sam-two', email: 'SAM@example.com' });
      for (const password of ['pw-of-sam-one', 'pw-of-sam-two']) {
        const res = await login('sam@example.com', password);
        assert.equal(res.statusCode, 401, password);
        assert.deepEqual(res.json(), WRONG);
      }
      const sam2 = await server.storage.getUserByUsername('sam2');
      await server.storage.updateUser(sam2!.id, { is_active: false });
      const res = await login('sam@example.com', 'pw-of-sam-one');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(claimsOf(res.json<{ access: string }>().access).user_id, a.id);
      assert.equal((await login('sam@example.com', 'pw-of-sam-two')).statusCode, 401);
    });
  });
}

describe('a YAML preset file logging in by username or email', () => {
  let s: TestServer | undefined;
  let file: string;
  before(async () => {
    const dir = tempDir();
    const yaml = {
      ...ACME,
      id: undefined,
      prefix: '/api/v2',
      routes: ACME.routes.map((r) => (r.op === 'login' ? { ...r, loginField: 'login', lookup: ['username', 'email'] } : r)),
    };
    delete yaml.id;
    file = writeFile(dir, 'acme-v2.yaml', yaml);
    assert.match(fs.readFileSync(file, 'utf8'), /^prefix: \/api\/v2$/m);
    s = await startServer({ env: { LATCHKEY_PRESETS: file } });
    await s.user({ username: 'jane', password: 'correct-horse-42', email: 'jane@example.com' });
  });
  after(() => s?.close());

  it('takes its id from the file name, and the value as a username, then as an email', async () => {
    assert.deepEqual(
      selectPresets([file]).map((p) => p.id),
      ['acme-v2'],
    );
    for (const login of ['jane', 'jane@example.com', 'JANE@example.com']) {
      const res = await s!.post('/api/v2/auth/jwt/create/', { login, password: 'correct-horse-42' });
      assert.equal(res.statusCode, 200, `${login}: ${res.body}`);
    }
    const res = await s!.post('/api/v2/auth/jwt/create/', { login: 'jane@example.com', password: 'wrong' });
    assert.deepEqual(res.json(), WRONG);
  });
});

describe('bad preset files stop startup with one line: file, JSON path, reason', () => {
  const dir = tempDir();
  const variant = (change: (p: Record<string, unknown> & { routes: Record<string, unknown>[] }) => void) => {
    const p = structuredClone(ACME) as unknown as Record<string, unknown> & { routes: Record<string, unknown>[] };
    change(p);
    return p;
  };
  const cases: { name: string; file: unknown; line: RegExp; ext?: string }[] = [
    { name: 'an unknown top-level key', file: variant((p) => (p.rotation = true)), line: /^\$\.rotation: unknown key$/ },
    {
      name: 'an unknown key in a route',
      file: variant((p) => (p.routes[1]!.token_field = 'x')),
      line: /^\$\.routes\[1\]\.token_field: unknown key$/,
    },
    {
      name: 'an unknown operation',
      file: variant((p) => (p.routes[2]!.op = 'fly')),
      line: /^\$\.routes\[2\]\.op: "fly" is not an operation \(one of login, /,
    },
    { name: 'a route without op', file: variant((p) => delete p.routes[0]!.op), line: /^\$\.routes\[0\]\.op: missing/ },
    {
      name: 'a missing required field',
      file: variant((p) => delete p.routes[1]!.tokenField),
      line: /^\$\.routes\[1\]\.tokenField: missing \(required\)$/,
    },
    { name: 'a wrong type', file: variant((p) => (p.rotate = 'yes')), line: /^\$\.rotate: .*expected boolean/ },
    {
      name: 'an unknown login field',
      file: variant((p) => (p.routes[0]!.lookup = ['username', 'nickname'])),
      line: /^\$\.routes\[0\]\.lookup: must be "username", "email", "phone_number"/,
    },
    {
      name: 'an unknown error code',
      file: variant((p) => (p.routes[0]!.errors = { wrong_password: { message: 'x' } })),
      line: /^\$\.routes\[0\]\.errors\.wrong_password: unknown key$/,
    },
    { name: 'a bad prefix', file: variant((p) => (p.prefix = 'api/v1/')), line: /^\$\.prefix: must be a path starting with "\/"/ },
    {
      name: 'a bad auth header type',
      file: variant((p) => (p.authHeaderTypes = ['JWT token'])),
      line: /^\$\.authHeaderTypes\[0\]: must be an HTTP auth scheme/,
    },
    {
      name: 'one path twice',
      file: variant((p) => (p.routes[4] = { ...p.routes[2]!, op: 'verify' })),
      line: /^\$\.routes\[4\]: POST \/auth\/jwt\/verify\/ is already served by \$\.routes\[2\]$/,
    },
    {
      name: 'a path parameter the operation does not take',
      file: variant((p) => (p.routes[4]!.url = '/users/:id/')),
      line: /^\$\.routes\[4\]\.url: me takes no ":id" path parameter$/,
    },
    { name: 'no routes', file: variant((p) => (p.routes = [])), line: /^\$\.routes: .*>=1/ },
    { name: 'not an object', file: ['a', 'list'], line: /^\$: .*expected object/ },
    { name: 'an invalid id', file: variant((p) => (p.id = 'Acme Mobile')), line: /^\$\.id: must be lower-case letters/ },
    {
      name: 'a YAML route with a bad status',
      file: variant(
        (p) => (p.routes[4] = { method: 'POST', url: '/r/', op: 'register', profile: [], status: 202, respond: 'pair', summary: 's' }),
      ),
      line: /^\$\.routes\[4\]\.status: must be 200 or 201$/,
      ext: 'yaml',
    },
  ];
  for (const [i, c] of cases.entries()) {
    it(c.name, () => {
      const file = writeFile(dir, `bad-${i}.${c.ext ?? 'json'}`, c.file);
      assert.throws(
        () => selectPresets(['simplejwt', file]),
        (err: Error) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(err.message.startsWith(`${file}: `), err.message);
          assert.doesNotMatch(err.message, /\n/);
          assert.match(err.message.slice(file.length + 2), c.line);
          return true;
        },
      );
    });
  }

  it('broken JSON and YAML, a missing file and another extension', () => {
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, '{"envelope": "detail",}');
    assert.throws(() => readPresetFile(broken), { message: new RegExp(`^${broken}: \\$: not valid JSON: `) });
    const yaml = path.join(dir, 'broken.yml');
    fs.writeFileSync(yaml, 'envelope: detail\nenvelope: error\n');
    assert.throws(() => readPresetFile(yaml), { message: `${yaml}: $: not valid YAML: Map keys must be unique` });
    assert.throws(() => selectPresets(['./no/such/preset.json']), {
      message: './no/such/preset.json: cannot read the preset file (no such file)',
    });
    assert.throws(() => selectPresets(['./acme.txt']), { message: "./acme.txt: a preset file's name ends in .json, .yaml or .yml" });
  });

  it('a relative path is read from the working directory, and named as given', () => {
    writeFile(dir, 'acme.json', ACME);
    const [p] = selectPresets(['./acme.json'], dir);
    assert.equal(p!.id, 'acme');
    assert.equal(p!.routes[0]!.url, '/api/v1/auth/jwt/create/');
  });

  it('a file claiming a route another preset serves names both; two presets with one id are refused', () => {
    const clash = writeFile(dir, 'clash.json', { ...ACME, prefix: '/api', routes: [{ ...ACME.routes[0], url: '/token/' }] });
    assert.throws(() => selectPresets(['simplejwt', clash]), {
      message: 'LATCHKEY_PRESETS: presets "simplejwt" and "acme" both serve POST /api/token/; mount only one of them',
    });
    const twin = writeFile(dir, 'twin.json', { ...ACME, id: 'simplejwt', prefix: '/twin' });
    assert.throws(() => selectPresets(['simplejwt', twin]), {
      message: new RegExp(`"simplejwt" and "${twin}" are both preset "simplejwt"`),
    });
  });

  it('a bad file stops the server from starting', async () => {
    const file = writeFile(
      dir,
      'startup.json',
      variant((p) => (p.routes[2]!.op = 'fly')),
    );
    await assert.rejects(
      startServer({ env: { LATCHKEY_PRESETS: `simplejwt,${file}` } }),
      (err: Error) => err instanceof ConfigError && err.message.startsWith(`${file}: $.routes[2].op: "fly" is not an operation`),
    );
  });
});

describe('the built-in presets are preset files', () => {
  it('every file in src/presets/builtin/ is loaded as a built-in, the seven in their order', () => {
    const dir = new URL('../../src/presets/builtin/', import.meta.url);
    const files = fs.readdirSync(dir).map((f) => f.replace(/\.json$/, ''));
    assert.deepEqual(Object.keys(PRESETS).slice(0, 7), ['simplejwt', 'api-auth', 'auth-root', 'users', 'phone', 'account', 'djoser']);
    assert.deepEqual(Object.keys(PRESETS).sort(), files.sort());
    for (const id of files) {
      const loaded = readPresetFile(path.join(dir.pathname, `${id}.json`));
      assert.deepEqual(loaded, PRESETS[id]);
    }
  });
});
