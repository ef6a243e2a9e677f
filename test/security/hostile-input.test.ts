// Hostile values in every text field of every route of every preset (issue 14):
// a NUL, a lone surrogate, a JSON value of the wrong type, a string longer than
// the field allows, in JSON and in form bodies. Each is refused with a 4xx in the
// preset's envelope, never a 5xx, with DRF's message for the field, and leaves
// the users table as it was, on every database. The routes and their fields
// come from PRESETS and the API schema each server serves, not from a list
// here, so a preset added later is covered too. Then the exact messages, and
// requests with two Authorization headers or two credentials in one.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { PRESETS } from '../../src/presets/index.js';
import type { Envelope, Preset } from '../../src/presets/types.js';
import { DIALECTS, startServer, STORAGE_VARIANTS, type TestServer } from '../helpers.js';

// The HTTP suite runs once per database: STORAGE_VARIANTS' two SQLite paths are
// one database to a server (its storage picks the path), PostgreSQL the other.
const DATABASES = DIALECTS.filter((d) => STORAGE_VARIANTS.some((v) => v.dialect === d));

const NUL_MESSAGE = 'Null characters are not allowed.';
const SURROGATE_MESSAGE = /Surrogate characters are not allowed: U\+D[89A-F][0-9A-F]{2}\./;
const BAD_HEADER = 'Authorization header must contain two space-delimited values';

interface FieldSchema {
  type: string | string[];
  maxLength?: number;
}

interface RouteUnderTest {
  method: string;
  url: string;
  fields: Record<string, FieldSchema>;
  protected: boolean;
  /** The route words some errors itself (preset data): its bodies are checked for shape, not wording. */
  overrides: boolean;
  /** The status the route's document gives a missing field, where not DRF's 400 (dj-rest-auth's logout answers 401). */
  requiredStatus?: number | undefined;
}

/** The preset's routes as its server's API schema describes them: body fields and whether a token is needed. */
async function routesOf(s: TestServer, preset: Preset): Promise<RouteUnderTest[]> {
  const doc = (await s.request({ method: 'GET', url: '/api/schema/' })).json() as {
    paths: Record<string, Record<string, { security?: unknown[]; requestBody?: { content: Record<string, { schema: Json }> } }>>;
  };
  return preset.routes.map((r) => {
    const op = doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
    assert.ok(op, `${r.method} ${r.url} is not in the API schema`);
    const schema = op.requestBody?.content['application/json']?.schema as { properties?: Record<string, FieldSchema> } | undefined;
    const fields = Object.fromEntries(Object.entries(schema?.properties ?? {}).filter(([, f]) => [f.type].flat().includes('string')));
    return {
      method: r.method,
      url: r.url,
      fields,
      protected: (op.security?.length ?? 0) > 0,
      overrides: r.errors !== undefined,
      requiredStatus: r.errors?.required?.status,
    };
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const text = fc.string({ unit: 'binary', maxLength: 12 });
/** A string with a NUL in it. */
const withNul = fc.tuple(text, text).map(([a, b]) => `${a}\u0000${b}`);
/** A string with a lone surrogate in it (the unit 'binary' makes no half surrogates, so it stays lone). */
const withSurrogate = fc
  .tuple(text, fc.integer({ min: 0xd800, max: 0xdfff }), text)
  .map(([a, cp, b]) => `${a}x${String.fromCharCode(cp)}x${b}`);
/** Anything but a string or a number (DRF's CharField turns a number into its text); null only where the field refuses it. */
const wrongType = (nullable: boolean) =>
  fc.oneof(
    fc.boolean(),
    fc.array(fc.jsonValue(), { maxLength: 3 }),
    fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
    ...(nullable ? [] : [fc.constant(null)]),
  );
/** A string past the field's maxLength, of characters no trim removes, up to past the body limit. */
const tooLong = (max: number) =>
  fc.tuple(fc.integer({ min: max + 1, max: max + 70_000 }), fc.constantFrom('x', 'é', '\u{1F600}')).map(([n, c]) => c.repeat(n));

function hostile(field: FieldSchema, form: boolean): fc.Arbitrary<unknown> {
  const long = field.maxLength !== undefined ? [tooLong(field.maxLength)] : [];
  // A form body has only text, and UTF-8 cannot encode a lone surrogate.
  if (form) return fc.oneof(withNul, ...long);
  return fc.oneof(withNul, withSurrogate, wrongType([field.type].flat().includes('null')), ...long);
}

/** What DRF says of a hostile value, at least (a long NUL string hears of both). */
function expectedMessages(v: unknown, field: FieldSchema): (string | RegExp)[] {
  if (v === null) return ['This field may not be null.'];
  if (typeof v !== 'string') return ['Not a valid string.'];
  const out: (string | RegExp)[] = [];
  // (Counted after trimming, which may or may not happen to this field: either way it is too long.)
  if (field.maxLength !== undefined && [...v.trim()].length > field.maxLength) {
    out.push(`Ensure this field has no more than ${field.maxLength} characters.`);
  }
  if (v.includes('\u0000')) out.push(NUL_MESSAGE);
  if ([...v].some((c) => c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff)) out.push(SURROGATE_MESSAGE);
  return out;
}

const filler = fc.option(
  fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constantFrom('alice', 'alice@example.com', '+14155550123')),
  {
    nil: undefined,
  },
);

/** A body with every field absent or ordinary, and at least one field hostile; which ones, too. */
function hostileBody(fields: Record<string, FieldSchema>, form: boolean) {
  const names = Object.keys(fields);
  return fc
    .record({
      base: fc.record(
        Object.fromEntries(names.map((n) => [n, form ? fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) : filler])),
      ),
      bad: fc.record(Object.fromEntries(names.map((n) => [n, hostile(fields[n]!, form)]))),
      pick: fc.subarray(names, { minLength: 1 }),
    })
    .map(({ base, bad, pick }) => ({
      body: { ...base, ...Object.fromEntries(pick.map((n) => [n, bad[n]])) } as Record<string, unknown>,
      pick,
    }));
}

function encode(body: Record<string, unknown>, form: boolean): Pick<InjectOptions, 'payload' | 'headers'> {
  if (!form) return { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') params.append(k, v); // a form body has text only
  return { payload: params.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}

/** A 4xx body in the preset's envelope: {"error": "..."}, or DRF's {"detail": ...} or field errors. */
function assertEnvelope(envelope: Envelope, r: LightMyRequestResponse, label: string): Record<string, unknown> {
  assert.match(String(r.headers['content-type']), /^application\/json/, label);
  const body = r.json() as Record<string, unknown>;
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), label);
  if (envelope === 'error') {
    assert.deepEqual(Object.keys(body), ['error'], label);
    assert.equal(typeof body.error, 'string', label);
  } else if ('detail' in body) {
    assert.equal(typeof body.detail, 'string', label);
  } else {
    for (const [k, v] of Object.entries(body)) {
      assert.ok(Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === 'string'), `${label}: ${k}`);
    }
  }
  return body;
}

/** The messages a 400 gives for `field`, in either envelope. */
function messagesFor(envelope: Envelope, body: Record<string, unknown>, field: string): string[] {
  if (envelope === 'detail') return (body[field] as string[] | undefined) ?? [];
  return [String(body.error)];
}

/** Whether one of the messages is (or, in the error envelope's one line, contains) `m`. */
const hasMessage = (messages: string[], m: string | RegExp) => messages.some((x) => (typeof m === 'string' ? x.includes(m) : m.test(x)));

const usersOf = async (s: TestServer) => JSON.stringify(await s.storage.listUsers());

const label = (r: RouteUnderTest, body: unknown) => `${r.method} ${r.url} ${JSON.stringify(body)?.slice(0, 160)}`;

for (const dialect of DATABASES) {
  for (const preset of Object.values(PRESETS)) {
    describe(`hostile input: preset ${preset.id} on ${dialect}`, () => {
      /** The preset's Authorization scheme (SimpleJWT's AUTH_HEADER_TYPES[0]). */
      const scheme = preset.authHeaderTypes?.[0] ?? 'Bearer';
      let s: TestServer;
      let routes: RouteUnderTest[] = [];
      let userId = 0;
      before(async () => {
        s = await startServer({ dialect, env: { LATCHKEY_PRESETS: preset.id } });
        userId = (await s.user({ username: 'alice', password: 'correct-horse-battery-1', email: 'alice@example.com' })).id;
        routes = await routesOf(s, preset);
      });
      after(() => s?.close());

      /** The route's Authorization header: a fresh access token of alice's on a protected route. */
      const authFor = async (r: RouteUnderTest): Promise<Record<string, string>> =>
        r.protected ? { authorization: `${scheme} ${(await s.service.issuePair(userId)).access}` } : {};
      const send = (r: RouteUnderTest, opts: Pick<InjectOptions, 'payload' | 'headers'>, auth: Record<string, string>) =>
        s.request({
          method: r.method as 'POST',
          url: r.url.replace(/:(\w+)/g, '1'),
          ...opts,
          headers: { ...(opts.headers as Record<string, string>), ...auth },
        });

      for (const form of [false, true]) {
        it(`every text field refuses NUL, ${form ? 'overlong values (form bodies)' : 'lone surrogates, wrong JSON types and overlong values (JSON)'}: 4xx, DRF's message, no row written`, async () => {
          for (const r of routes) {
            if (Object.keys(r.fields).length === 0) continue;
            await fc.assert(
              fc.asyncProperty(hostileBody(r.fields, form), async ({ body, pick }) => {
                const auth = await authFor(r);
                const before = await usersOf(s);
                const res = await send(r, encode(body, form), auth);
                const what = label(r, body);
                // 400 as DRF's serializer answers (or the document's own status for a missing
                // field); 413 for a body past the size limit (the longest strings).
                assert.ok([400, 413, r.requiredStatus].includes(res.statusCode), `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
                const answer = assertEnvelope(preset.envelope, res, what);
                assert.equal(await usersOf(s), before, `${what}: the users table changed`);
                if (res.statusCode !== 400 || r.overrides) return; // the preset's own words are its route tests' business
                for (const field of pick) {
                  const got = messagesFor(preset.envelope, answer, field);
                  for (const m of expectedMessages(body[field], r.fields[field]!)) {
                    assert.ok(hasMessage(got, m), `${what}: ${field} should say ${String(m)}, said ${JSON.stringify(got)}`);
                  }
                }
              }),
              { numRuns: form ? 10 : 30, includeErrorInReport: true },
            );
          }
        });
      }

      it('any JSON value, numbers and long strings included, in any field: never a 5xx', async () => {
        for (const r of routes) {
          if (Object.keys(r.fields).length === 0) continue;
          const names = Object.keys(r.fields);
          const anyValue = fc.oneof(fc.jsonValue(), fc.double(), fc.string({ unit: 'binary', maxLength: 3000 }));
          await fc.assert(
            fc.asyncProperty(
              fc.record(Object.fromEntries(names.map((n) => [n, fc.option(anyValue, { nil: undefined })]))),
              async (body) => {
                const res = await send(r, encode(body, false), await authFor(r));
                const what = label(r, body);
                assert.ok(res.statusCode < 500, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
                if (res.statusCode >= 400) assertEnvelope(preset.envelope, res, what);
              },
            ),
            { numRuns: 8, includeErrorInReport: true },
          );
        }
      });

      it('two Authorization headers, or two credentials in one, get 401 bad_authorization_header on every protected route', async () => {
        const access = (await s.service.issuePair(userId)).access;
        const other = (await s.service.issuePair(userId)).access;
        const headers: (string | string[])[] = [
          [`${scheme} ${access}`, `${scheme} ${other}`],
          [`${scheme} ${access}`, `${scheme} forged`],
          [`${scheme} forged`, `${scheme} ${access}`],
          [`${scheme} ${access}`, `${scheme} ${access}`],
          `${scheme} ${access}, ${scheme} ${other}`,
          `${scheme} ${access},${scheme} ${other}`,
          `${scheme} ${access} ${other}`,
        ];
        const expected = preset.envelope === 'error' ? { error: BAD_HEADER } : { detail: BAD_HEADER, code: 'bad_authorization_header' };
        for (const r of routes.filter((x) => x.protected)) {
          for (const authorization of headers) {
            const res = await s.request({
              method: r.method as 'POST',
              url: r.url.replace(/:(\w+)/g, '1'),
              // (An array: the same header sent once per value, as light-my-request and Node's server both show it.)
              headers: {
                authorization,
                ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
              } as InjectOptions['headers'],
              ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { payload: '{}' }),
            });
            const what = `${r.method} ${r.url} ${JSON.stringify(authorization).slice(0, 60)}`;
            assert.equal(res.statusCode, 401, `${what}: ${res.body}`);
            assert.deepEqual(res.json(), expected, what);
            assert.ok(res.headers['www-authenticate'], what);
          }
        }
      });
    });
  }
}

for (const dialect of DATABASES) {
  describe(`hostile input: DRF's exact answers on ${dialect}`, () => {
    let s: TestServer;
    let access = '';
    before(async () => {
      s = await startServer({ dialect, env: { LATCHKEY_PRESETS: 'simplejwt,api-auth,account' } });
      const { id } = await s.user({ username: 'alice', password: 'correct-horse-battery-1' });
      access = (await s.service.issuePair(id)).access;
    });
    after(() => s?.close());

    const json = (method: 'POST' | 'PATCH', url: string, payload: string, token?: string) =>
      s.request({
        method,
        url,
        payload,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
    const form = (url: string, payload: string) =>
      s.request({ method: 'POST', url, payload, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const expect = (res: LightMyRequestResponse, status: number, body: unknown) => {
      assert.equal(res.statusCode, status, res.body);
      assert.deepEqual(res.json(), body);
    };

    it('a NUL at login, in JSON or a form body: 400 "Null characters are not allowed." (was a 500 on PostgreSQL)', async () => {
      expect(await json('POST', '/api/token/', '{"username": "a\\u0000b", "password": "whatever-123"}'), 400, { username: [NUL_MESSAGE] });
      expect(await form('/api/token/', 'username=a%00b&password=whatever-123'), 400, { username: [NUL_MESSAGE] });
      expect(await form('/api/auth/login/', 'username=alice&password=p%00'), 400, { error: `password: ${NUL_MESSAGE}` });
      expect(await json('POST', '/api/token/refresh/', '{"refresh": "x\\u0000"}'), 400, { refresh: [NUL_MESSAGE] });
    });

    it('a NUL at registration and in a profile PATCH: 400, nothing stored', async () => {
      const reg = '{"username": "bob", "password": "Very-long-pass-99", "first_name": "B\\u0000b"}';
      expect(await json('POST', '/api/auth/register/', reg), 400, { error: `first_name: ${NUL_MESSAGE}` });
      assert.equal(await s.storage.getUserByUsername('bob'), undefined);
      expect(await json('PATCH', '/api/account/me/', '{"last_name": "\\u0000"}', access), 400, { last_name: [NUL_MESSAGE] });
      assert.equal((await s.storage.getUserByUsername('alice'))!.last_name, '');
    });

    it('a lone surrogate in an email: 400 "Surrogate characters are not allowed: U+D800." (was a URIError 500)', async () => {
      const reg = '{"username": "bob", "password": "Very-long-pass-99", "email": "\\ud800@example.com"}';
      expect(await json('POST', '/api/auth/register/', reg), 400, { error: 'email: Surrogate characters are not allowed: U+D800.' });
      expect(await json('PATCH', '/api/account/me/', '{"email": "\\udfff@example.com"}', access), 400, {
        email: ['Surrogate characters are not allowed: U+DFFF.'],
      });
      expect(await json('POST', '/api/token/', '{"username": "\\udbff", "password": "x"}'), 400, {
        username: ['Surrogate characters are not allowed: U+DBFF.'],
      });
    });

    it('a surrogate pair is a character like any other', async () => {
      const res = await json('PATCH', '/api/account/me/', '{"first_name": "\\ud83d\\ude00"}', access);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((res.json() as { first_name: string }).first_name, '\u{1F600}');
    });

    it('every validator speaks, in DRF order: length, then NUL, then the first lone surrogate', async () => {
      const long = `${'a'.repeat(151)}\\u0000\\udc00\\ud801`;
      expect(await json('PATCH', '/api/account/me/', `{"first_name": "${long}"}`, access), 400, {
        first_name: ['Ensure this field has no more than 150 characters.', NUL_MESSAGE, 'Surrogate characters are not allowed: U+DC00.'],
      });
    });

    it("wrong JSON types get DRF's CharField messages; a number is taken as its text, as DRF does", async () => {
      const types = '{"username": true, "password": null}';
      expect(await json('POST', '/api/token/', types), 400, {
        username: ['Not a valid string.'],
        password: ['This field may not be null.'],
      });
      expect(await json('POST', '/api/token/', '{"username": ["a"], "password": {"a": 1}}'), 400, {
        username: ['Not a valid string.'],
        password: ['Not a valid string.'],
      });
      expect(await json('PATCH', '/api/account/me/', '{"first_name": false, "phone_number": null, "email": null}', access), 400, {
        email: ['This field may not be null.'],
        first_name: ['Not a valid string.'],
      });
      expect(await json('POST', '/api/token/', '{"username": 12345, "password": 12345}'), 401, {
        detail: 'No active account found with the given credentials',
      });
    });

    it('a JSON body that is not UTF-8 is a parse error, not text with U+FFFD in it', async () => {
      const payload = Buffer.concat([Buffer.from('{"username": "al'), Buffer.from([0xff, 0xfe]), Buffer.from('ice", "password": "x"}')]);
      const res = await s.request({ method: 'POST', url: '/api/token/', payload, headers: { 'content-type': 'application/json' } });
      assert.equal(res.statusCode, 400, res.body);
      assert.match((res.json() as { detail: string }).detail, /^JSON parse error - /);
    });

    it('a NUL or an undecodable byte in a path parameter: 404, as a URL that names no session', async () => {
      for (const id of ['%00', '1%00', '%ED%A0%80', '%FF']) {
        const res = await s.request({
          method: 'DELETE',
          url: `/api/account/sessions/${id}/`,
          headers: { authorization: `Bearer ${access}` },
        });
        expect(res, 404, { detail: 'Not found.' });
      }
    });

    it('two Authorization headers over a real socket: 401 bad_authorization_header, whichever comes first', async () => {
      await s.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = s.app.server.address() as AddressInfo;
      for (const [first, second] of [
        [`Bearer ${access}`, 'Bearer forged'],
        ['Bearer forged', `Bearer ${access}`],
      ]) {
        const headers = ['Host', `127.0.0.1:${port}`, 'Authorization', first!, 'Authorization', second!];
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/api/protected-endpoint/', headers }, (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          });
          req.on('error', reject).end();
        });
        assert.equal(status, 401, body);
        assert.deepEqual(JSON.parse(body), { detail: BAD_HEADER, code: 'bad_authorization_header' });
      }
    });
  });
}
