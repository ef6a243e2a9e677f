// The OpenAPI document is complete and true: valid OpenAPI 3.1 by a maintained
// validator for every combination of presets, with unique operationIds, the
// documents' examples, and every status a route answers documented for that
// route (a table of requests run through inject()).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { Validator } from '@seriousme/openapi-schema-validator';
import { PRESETS, selectPresets } from '../src/presets/index.js';
import type { Operation, Preset } from '../src/presets/types.js';
import { startServer, type TestServer } from './helpers.js';

type Json = Record<string, unknown>;
interface Media {
  schema: Json;
  example?: unknown;
  examples?: Record<string, { summary?: string; value: unknown }>;
}
interface Op {
  operationId?: string;
  tags?: string[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description: string; headers?: Json; content?: Record<string, Media> }>;
}
interface Doc {
  info: { title: string };
  paths: Record<string, Record<string, Op>>;
}

const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

async function schemaOf(s: TestServer): Promise<Doc> {
  const res = await s.request({ method: 'GET', url: '/api/schema/' });
  assert.equal(res.statusCode, 200);
  return JSON.parse(res.body) as Doc;
}

/** Every non-empty set of presets that can be mounted together (no two claim one route). */
function combinations(): string[][] {
  const ids = Object.keys(PRESETS);
  const out: string[][] = [];
  for (let mask = 1; mask < 1 << ids.length; mask++) {
    const set = ids.filter((_, i) => mask & (1 << i));
    try {
      selectPresets(set);
      out.push(set);
    } catch {
      // two presets serve one route: not a configuration latchkey starts with
    }
  }
  return out;
}

const operationIds = (doc: Doc) => Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));

describe('OpenAPI document: every preset combination', () => {
  const validator = new Validator();
  const seen = new Map<string, string>();

  for (const set of combinations()) {
    it(`${set.join(',')}: valid OpenAPI 3.1, unique operationIds`, async () => {
      const s = await startServer({ env: { LATCHKEY_PRESETS: set.join(',') } });
      try {
        const doc = await schemaOf(s);
        const result = await validator.validate(doc as unknown as Json);
        assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
        const ids = operationIds(doc);
        assert.ok(
          ids.every((id) => typeof id === 'string' && /^[A-Za-z0-9_]+$/.test(id)),
          'every operation has an operationId',
        );
        assert.equal(new Set(ids).size, ids.length, `duplicate operationId in ${ids.join(', ')}`);
        // Stable: one operation has the same id whatever else is mounted.
        for (const [path, item] of Object.entries(doc.paths)) {
          for (const [method, op] of Object.entries(item)) {
            const key = `${method} ${path} ${String(op.tags)}`;
            const before = seen.get(key);
            if (before) assert.equal(op.operationId, before, key);
            else seen.set(key, op.operationId!);
          }
        }
        for (const path of ['/.well-known/jwks.json', '/healthz', '/readyz', '/metrics']) assert.ok(doc.paths[path]?.get, path);
      } finally {
        await s.close();
      }
    });
  }
});

describe('OpenAPI document: what each route shows', () => {
  let s: TestServer;
  let doc: Doc;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,api-auth,account' } });
    doc = await schemaOf(s);
  });
  after(() => s.close());

  const op = (method: string, path: string) => doc.paths[path]![method]!;
  const examples = (media: Media | undefined) => Object.values(media?.examples ?? {}).map((e) => e.value);

  it('operationIds are `<preset>_<op>`', () => {
    assert.equal(op('post', '/api/token/').operationId, 'simplejwt_login');
    assert.equal(op('post', '/api/auth/logout/').operationId, 'api_auth_blacklist');
    assert.equal(op('delete', '/api/account/sessions/{id}/').operationId, 'account_revoke_session');
    assert.equal(op('get', '/.well-known/jwks.json').operationId, 'latchkey_jwks');
  });

  it('shows the preset document’s request and response examples', () => {
    const login = op('post', '/api/token/');
    for (const media of Object.values(login.requestBody!.content)) {
      assert.deepEqual(examples(media), [{ username: 'your_username', password: 'your_password' }]);
    }
    assert.deepEqual(examples(login.responses['200']!.content!['application/json']), [
      { access: 'eyJ0eXAiOiJKV1QiLCJhbGciOi...', refresh: 'eyJ0eXAiOiJKV1QiLCJhbGciOi...' },
    ]);
    const logout = op('post', '/api/auth/logout/');
    assert.deepEqual(examples(logout.responses['200']!.content!['application/json']), [{ detail: 'Successfully logged out.' }]);
    // The schema stays the route's own: the examples live beside it.
    assert.equal((login.responses['200']!.content!['application/json']!.schema as Json).examples, undefined);
  });

  it('shows every error in the preset’s envelope, with the headers a client needs', () => {
    const apiLogin = op('post', '/api/auth/login/').responses;
    assert.deepEqual(Object.keys(apiLogin).sort(), ['200', '400', '401', '413', '415', '429', '503']);
    assert.ok(examples(apiLogin['401']!.content!['application/json']).some((v) => Object.keys(v as Json).join() === 'error'));
    assert.ok(apiLogin['401']!.headers?.['www-authenticate']);
    assert.ok(apiLogin['429']!.headers?.['retry-after']);
    assert.ok(apiLogin['503']!.headers?.['retry-after']);
    const logout = op('post', '/api/auth/logout/').responses;
    assert.deepEqual(examples(logout['400']!.content!['application/json']), [
      { error: 'Refresh token required.' },
      { error: 'JSON parse error - Unexpected end of JSON input' },
      { error: 'Invalid or expired refresh token.' },
    ]);
    const me = op('get', '/api/protected-endpoint/').responses;
    assert.deepEqual(Object.keys(me).sort(), ['200', '401', '503']);
    assert.ok(
      examples(me['401']!.content!['application/json']).some(
        (v) => (v as Json).code === 'token_not_valid' && Array.isArray((v as Json).messages),
      ),
    );
    assert.deepEqual(Object.keys(op('delete', '/api/account/sessions/{id}/').responses).sort(), ['204', '401', '404', '503']);
    // Field errors in DRF's shape where the envelope is `detail`, as the validators word them.
    const patch = op('patch', '/api/account/me/').responses['400']!.content!['application/json']!.examples!;
    assert.deepEqual(patch.invalid?.value, { email: ['Enter a valid email address.'] });
    assert.deepEqual(patch.phone_taken?.value, { phone_number: ['A user with this phone number already exists.'] });
    // No phone number in api-auth's registration, so none can be taken.
    const register = op('post', '/api/auth/register/').responses['400']!.content!['application/json']!.examples!;
    assert.equal(register.phone_taken, undefined);
    assert.deepEqual(register.username_taken?.value, { error: 'A user with that username already exists.' });
  });

  it('documents the JWKS, health and metrics routes', () => {
    const jwks = op('get', '/.well-known/jwks.json').responses['200']!.content!['application/json']!;
    assert.deepEqual((jwks.schema as { required: string[] }).required, ['keys']);
    assert.ok(op('get', '/readyz').responses['503']);
    assert.ok(op('get', '/metrics').responses['200']!.content!['text/plain']);
    assert.equal(op('get', '/healthz').operationId, 'latchkey_healthz');
  });

  it('shows latchkey’s logo and title on the docs page', async () => {
    const page = await s.request({ method: 'GET', url: '/api/docs/' });
    assert.match(page.body, /<title>latchkey API<\/title>/);
    const icon = /href="([^"]*latchkey\.svg)"/.exec(page.body)?.[1];
    assert.ok(icon, 'the favicon is latchkey’s');
    const svg = await s.request({ method: 'GET', url: new URL(icon, 'http://x/api/docs/').pathname });
    assert.equal(svg.statusCode, 200);
    assert.match(svg.body, /<svg/);
    const init = await s.request({ method: 'GET', url: '/api/docs/static/swagger-initializer.js' });
    const logo = /img\.src = 'data:image\/svg\+xml;base64,([^']+)'/.exec(init.body)?.[1];
    assert.ok(logo, 'the top bar shows latchkey’s logo');
    assert.match(Buffer.from(logo, 'base64').toString(), /<title>latchkey<\/title>/);
  });
});

// ---- every status a route answers is documented for it --------------------

const PASSWORD = 'pw-openapi-123';
const NEW_PASSWORD = 'Lantern-Harbour-42';
const BODY_LIMIT = 2048;

interface Probe {
  name: string;
  req: InjectOptions;
  /** Sent this many times; the last answer is checked (throttling). */
  times?: number;
}

interface Fixture {
  username: string;
  phone: string;
  pair: { access: string; refresh: string };
  sessionId: number;
}

let counter = 0;
async function fixture(s: TestServer): Promise<Fixture> {
  const n = ++counter;
  const username = `oa-user-${n}`;
  const phone = `+9198765${String(n).padStart(5, '0')}`;
  const { id } = await s.user({ username, password: PASSWORD, phone_number: phone });
  const pair = (await s.service.issuePair(id)) as Fixture['pair'];
  const [session] = await s.service.sessions(id);
  return { username, phone, pair, sessionId: session!.id };
}

/** The Authorization scheme of the preset under test (SimpleJWT's AUTH_HEADER_TYPES[0]; djoser's is JWT). */
let scheme = 'Bearer';

const json = (method: Operation['method'], url: string, payload: unknown, token?: string): InjectOptions => ({
  method,
  url,
  payload: payload as InjectOptions['payload'],
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `${scheme} ${token}` } : {}) },
});

/** Requests that reach each way a route can answer. */
function probes(r: Operation, f: Fixture, throttled: boolean): Probe[] {
  const url = r.url.replace(':id', String(f.sessionId));
  const auth = { authorization: `${scheme} ${f.pair.access}` };
  const out: Probe[] = [];
  const body = r.method === 'POST' || r.method === 'PATCH';
  const token = ['login', 'register', 'refresh', 'verify', 'blacklist'].includes(r.op) ? undefined : f.pair.access;
  const bad: Record<string, unknown> = {};
  if (body) {
    out.push(
      { name: 'empty body', req: json(r.method, url, {}, token) },
      { name: 'malformed JSON', req: { ...json(r.method, url, '{"a":', token) } },
      {
        name: 'text/plain',
        req: { method: r.method, url, payload: 'hello', headers: { 'content-type': 'text/plain', ...(token ? auth : {}) } },
      },
      { name: 'too large', req: json(r.method, url, { pad: 'x'.repeat(BODY_LIMIT) }, token) },
    );
  }
  if (token) {
    out.push(
      { name: 'no token', req: { method: r.method, url } },
      { name: 'not Bearer', req: { method: r.method, url, headers: { authorization: 'Basic eDp5' } } },
      { name: 'bad token', req: { method: r.method, url, headers: { authorization: `${scheme} not.a.token` } } },
    );
  }
  switch (r.op) {
    case 'login':
      bad[r.loginField] = r.lookup === 'phone' ? f.phone : f.username;
      bad.password = 'wrong-password';
      out.push({ name: 'wrong password', req: json('POST', url, bad) });
      out.push({ name: 'right password', req: json('POST', url, { ...bad, password: PASSWORD }) });
      break;
    case 'register': {
      const user: Record<string, string> = { username: `oa-new-${++counter}`, password: NEW_PASSWORD };
      if (r.requirePhone) user.phone_number = `+9198764${String(counter).padStart(5, '0')}`;
      Object.assign(bad, { username: f.username, password: NEW_PASSWORD, ...(r.requirePhone ? { phone_number: f.phone } : {}) });
      out.push({ name: 'new user', req: json('POST', url, user) }, { name: 'taken', req: json('POST', url, bad) });
      break;
    }
    case 'refresh':
    case 'verify':
    case 'blacklist':
      bad[r.tokenField] = 'not.a.token';
      out.push({ name: 'bad token in body', req: json('POST', url, bad) });
      out.push({
        name: 'good token in body',
        req: json('POST', url, { [r.tokenField]: r.op === 'verify' ? f.pair.access : f.pair.refresh }),
      });
      break;
    case 'update_profile':
      out.push({ name: 'bad birthdate', req: json('PATCH', url, { birthdate: '2999-01-01' }, f.pair.access) });
      out.push({ name: 'taken phone', req: json('PATCH', url, { phone_number: '+919800000001' }, f.pair.access) });
      out.push({ name: 'a name', req: json('PATCH', url, { first_name: 'Jane' }, f.pair.access) });
      break;
    case 'change_password':
      bad[r.oldField] = 'wrong-password';
      bad[r.newField] = NEW_PASSWORD;
      out.push({ name: 'wrong old password', req: json('POST', url, bad, f.pair.access) });
      out.push({ name: 'right', req: json('POST', url, { ...bad, [r.oldField]: PASSWORD }, f.pair.access) });
      break;
    case 'revoke_session':
      out.push({ name: 'no such session', req: { method: 'DELETE', url: r.url.replace(':id', '999999'), headers: auth } });
      out.push({ name: 'not an id', req: { method: 'DELETE', url: r.url.replace(':id', 'abc'), headers: auth } });
      out.push({ name: 'own session', req: { method: 'DELETE', url, headers: auth } });
      break;
    default:
      out.push({ name: 'signed in', req: { method: r.method, url, headers: auth } });
  }
  if (throttled) return out.filter((p) => /wrong|bad token in body|taken/.test(p.name)).map((p) => ({ ...p, times: 4 }));
  return out;
}

/** Runs every route's probes and checks each answer's status is documented for that route, in its envelope. */
async function checkPreset(s: TestServer, preset: Preset, throttled: boolean): Promise<Set<number>> {
  scheme = preset.authHeaderTypes?.[0] ?? 'Bearer';
  const doc = await schemaOf(s);
  const observed = new Set<number>();
  // A user whose phone number the update_profile probe collides with.
  await s.user({ username: 'oa-phone-owner', password: PASSWORD, phone_number: '+919800000001' }).catch(() => undefined);
  for (const r of preset.routes) {
    const documented = doc.paths[openapiPath(r.url)]![r.method.toLowerCase()]!.responses;
    for (const probe of probes(r, await fixture(s), throttled)) {
      let res = await s.request(probe.req);
      for (let i = 1; i < (probe.times ?? 1); i++) res = await s.request(probe.req);
      const where = `${preset.id}: ${r.method} ${r.url} (${probe.name}) answered ${res.statusCode}`;
      const entry = documented[String(res.statusCode)];
      assert.ok(entry, `${where}, which its document does not list (it lists ${Object.keys(documented).join(', ')})`);
      observed.add(res.statusCode);
      if (res.statusCode >= 400) {
        const body = res.json() as Json;
        const shown = Object.values(entry.content?.['application/json']?.examples ?? {}).map((e) => e.value as Json);
        // The envelope is the documented one: {"error"}, {"detail"} or field errors, as an example shows.
        const shape = (b: Json) => ('error' in b ? 'error' : 'detail' in b ? 'detail' : 'fields');
        assert.ok(
          shown.some((v) => shape(v) === shape(body)),
          `${where} with ${JSON.stringify(body)}; documented: ${JSON.stringify(shown)}`,
        );
      }
    }
  }
  // Any other method on a documented path: 405, whose Allow header lists exactly the documented methods.
  const auth = { authorization: `${scheme} ${(await fixture(s)).pair.access}` };
  for (const url of new Set(preset.routes.map((r) => r.url))) {
    const documented = Object.keys(doc.paths[openapiPath(url)]!).map((m) => m.toUpperCase());
    const other = (['PUT', 'POST', 'DELETE'] as const).find((m) => !documented.includes(m))!;
    const res = await s.request({ method: other, url: url.replace(':id', '1'), headers: auth });
    assert.equal(res.statusCode, 405, `${other} ${url}`);
    const implied = [...(documented.includes('GET') ? ['HEAD'] : []), 'OPTIONS'];
    assert.deepEqual(String(res.headers.allow).split(', ').sort(), [...documented, ...implied].sort(), `Allow on ${url}`);
  }
  return observed;
}

describe('OpenAPI document: every status a route answers is documented', () => {
  for (const id of Object.keys(PRESETS)) {
    it(`${id}`, async () => {
      const s = await startServer({ env: { LATCHKEY_PRESETS: id, LATCHKEY_BODY_LIMIT: String(BODY_LIMIT) } });
      try {
        const observed = await checkPreset(s, PRESETS[id]!, false);
        for (const status of [400, 401]) assert.ok(observed.has(status), `${id}: some probe got ${status}`);
      } finally {
        await s.close();
      }
    });

    it(`${id}, throttled`, async () => {
      const limit = '2/300';
      const s = await startServer({
        env: {
          LATCHKEY_PRESETS: id,
          LATCHKEY_LOGIN_THROTTLE: 'on',
          LATCHKEY_THROTTLE_LOGIN_ACCOUNT: limit,
          LATCHKEY_THROTTLE_REFRESH: limit,
          LATCHKEY_THROTTLE_VERIFY: limit,
          LATCHKEY_THROTTLE_REGISTER: limit,
        },
      });
      try {
        const observed = await checkPreset(s, PRESETS[id]!, true);
        if (PRESETS[id]!.routes.some((r) => r.op === 'login')) assert.ok(observed.has(429), `${id}: throttled`);
      } finally {
        await s.close();
      }
    });
  }

  it('the refresh cookie’s CSRF refusal (403) is documented on the cookie routes', async () => {
    const s = await startServer({
      env: { LATCHKEY_PRESETS: 'simplejwt', LATCHKEY_REFRESH_COOKIE: 'on', LATCHKEY_CORS_ORIGINS: 'https://app.example' },
    });
    try {
      const doc = await schemaOf(s);
      const f = await fixture(s);
      for (const url of ['/api/token/refresh/', '/api/token/blacklist/']) {
        const res = await s.request({
          method: 'POST',
          url,
          payload: {},
          headers: { cookie: `latchkey-refresh=${f.pair.refresh}`, origin: 'https://elsewhere.example' },
        });
        assert.equal(res.statusCode, 403, url);
        const shown = doc.paths[url]!.post!.responses['403']!.content!['application/json']!.examples!;
        assert.deepEqual(Object.keys(Object.values(shown)[0]!.value as Json), Object.keys(res.json() as Json));
      }
      assert.equal(doc.paths['/api/token/']!.post!.responses['403'], undefined, 'login reads no cookie');
    } finally {
      await s.close();
    }
  });
});
