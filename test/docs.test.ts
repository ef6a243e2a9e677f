// The API schema (GET /api/schema/) and the docs page (/api/docs/), through
// inject(). The browser flow is in docs-e2e.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PRESETS, selectPresets } from '../src/presets/index.js';
import { startServer, type TestServer } from './helpers.js';

type Json = Record<string, unknown>;
interface Operation extends Json {
  summary?: string;
  parameters?: Json[];
  tags?: string[];
  security?: Record<string, string[]>[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, Json>; schemas?: Json };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Paths outside the presets that may be documented: the public keys and the operations endpoints. */
const NON_PRESET = new Set(['/.well-known/jwks.json', '/healthz', '/readyz', '/metrics']);

/**
 * The structural rules of OpenAPI 3.1 that a generator can get wrong: the
 * version, info, path keys, operations with described responses, request
 * bodies with a schema per media type, security naming declared schemes, and
 * no OpenAPI 3.0 `nullable` (3.1 schemas are JSON Schema 2020-12).
 */
function assertOpenApi31(doc: Doc): void {
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(typeof doc.info.version, 'string');
  assert.equal(typeof doc.paths, 'object');
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.match(path, /^\//, `path ${path}`);
    for (const [method, op] of Object.entries(item)) {
      assert.ok(METHODS.includes(method), `${path}: ${method} is not an HTTP method of a Path Item`);
      assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} has responses`);
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        const params = (op.parameters ?? []) as { in: string; name: string; required?: boolean }[];
        assert.ok(
          params.some((p) => p.in === 'path' && p.name === name && p.required),
          `${method} ${path}: path parameter ${name}`,
        );
      }
      for (const [status, res] of Object.entries(op.responses)) {
        assert.match(status, /^([1-5]\d\d|[1-5]XX|default)$/);
        assert.equal(typeof res.description, 'string', `${method} ${path} ${status} has a description`);
        for (const media of Object.values(res.content ?? {})) assert.equal(typeof media.schema, 'object');
      }
      if (op.requestBody) {
        assert.ok(Object.keys(op.requestBody.content).length > 0);
        for (const media of Object.values(op.requestBody.content)) assert.equal(typeof media.schema, 'object');
      }
      for (const requirement of op.security ?? []) {
        for (const name of Object.keys(requirement)) {
          assert.ok(doc.components.securitySchemes[name], `${method} ${path}: security scheme ${name} is declared`);
        }
      }
    }
  }
  assert.ok(!JSON.stringify(doc).includes('"nullable"'), 'no OpenAPI 3.0 nullable');
}

/** `METHOD path` for each documented operation, sorted. */
function operations(doc: Doc, { presetsOnly = false } = {}): string[] {
  return Object.entries(doc.paths)
    .filter(([path]) => !presetsOnly || !NON_PRESET.has(path))
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

/** A Fastify path as OpenAPI writes it: `/sessions/:id/` is `/sessions/{id}/`. */
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

function presetOperations(names: readonly string[]): string[] {
  return selectPresets(names)
    .flatMap((p) => p.routes.map((r) => `${r.method} ${openapiPath(r.url)}`))
    .sort();
}

async function schemaOf(s: TestServer, url = '/api/schema/'): Promise<Doc> {
  const res = await s.request({ method: 'GET', url });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json\b/);
  return JSON.parse(res.body) as Doc;
}

describe('API schema: presets simplejwt and api-auth', () => {
  let s: TestServer;
  let doc: Doc;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,api-auth' } });
    doc = await schemaOf(s);
  });
  after(() => s.close());

  it('is an OpenAPI 3.1 document named after latchkey, with the bearer scheme', () => {
    assertOpenApi31(doc);
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'latchkey');
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(doc.info.version, version);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('lists exactly the mounted presets’ paths and methods', () => {
    const expected = [
      'POST /api/token/',
      'POST /api/token/refresh/',
      'POST /api/token/verify/',
      'POST /api/token/blacklist/',
      'GET /api/protected-endpoint/',
      'POST /api/auth/register/',
      'POST /api/auth/login/',
      'POST /api/auth/refresh/',
      'POST /api/auth/logout/',
    ].sort();
    assert.deepEqual(expected, presetOperations(['simplejwt', 'api-auth']));
    assert.deepEqual(operations(doc, { presetsOnly: true }), expected);
    // Nothing else: no HEAD/OPTIONS/405 helpers, no docs routes.
    for (const op of operations(doc)) {
      assert.ok(expected.includes(op) || NON_PRESET.has(op.split(' ')[1]!), `unexpected ${op}`);
    }
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/api/schema') || p.startsWith('/api/docs')));
  });

  it('tags each operation with its preset', () => {
    for (const preset of selectPresets(['simplejwt', 'api-auth'])) {
      for (const r of preset.routes) {
        const op = doc.paths[r.url]![r.method.toLowerCase()]!;
        assert.deepEqual(op.tags, [preset.id]);
        assert.equal(op.summary, r.summary);
      }
    }
  });

  it('describes the request bodies, as JSON and as a form', () => {
    const body = (path: string) => doc.paths[path]!.post!.requestBody!;
    const login = body('/api/token/');
    assert.equal(login.required, true);
    assert.deepEqual(Object.keys(login.content).sort(), ['application/json', 'application/x-www-form-urlencoded']);
    const schema = login.content['application/json']!.schema as { properties: Json; required: string[] };
    assert.deepEqual(Object.keys(schema.properties).sort(), ['password', 'username']);
    assert.deepEqual([...schema.required].sort(), ['password', 'username']);
    assert.deepEqual(login.content['application/x-www-form-urlencoded']!.schema, schema);

    const required = (path: string) => (body(path).content['application/json']!.schema as { required: string[] }).required;
    assert.deepEqual(required('/api/token/refresh/'), ['refresh']);
    assert.deepEqual(required('/api/token/verify/'), ['token']);
    assert.deepEqual(required('/api/token/blacklist/'), ['refresh']);
    assert.deepEqual(required('/api/auth/logout/'), ['refresh_token']);
    const register = body('/api/auth/register/').content['application/json']!.schema as { properties: Json };
    assert.deepEqual(Object.keys(register.properties).sort(), ['email', 'first_name', 'last_name', 'password', 'username']);
    assert.equal(doc.paths['/api/protected-endpoint/']!.get!.requestBody, undefined);
  });

  it('describes the success responses', () => {
    const ok = doc.paths['/api/token/']!.post!.responses['200']!;
    assert.equal(ok.description, 'OK');
    const pair = ok.content!['application/json']!.schema as { properties: Json; description?: string };
    assert.deepEqual(Object.keys(pair.properties).sort(), ['access', 'refresh']);
    assert.equal(pair.description, undefined, 'the description belongs to the response, not its schema');
    const created = doc.paths['/api/auth/register/']!.post!.responses;
    // Its one success response is 201; every other one it documents is an error (docs-openapi.test.ts).
    assert.deepEqual(
      Object.keys(created).filter((status) => !/^[45]\d\d$/.test(status)),
      ['201'],
    );
    assert.equal(created['201']!.description, 'Created');
    const me = doc.paths['/api/protected-endpoint/']!.get!.responses['200']!.content!['application/json']!.schema;
    assert.deepEqual(me, { type: 'object', properties: { message: { type: 'string' } } });
  });

  it('puts bearerAuth on the protected route only', () => {
    assert.deepEqual(doc.paths['/api/protected-endpoint/']!.get!.security, [{ bearerAuth: [] }]);
    for (const op of operations(doc, { presetsOnly: true })) {
      if (op === 'GET /api/protected-endpoint/') continue;
      const [method, path] = op.split(' ') as [string, string];
      assert.equal(doc.paths[path]![method.toLowerCase()]!.security, undefined, op);
    }
  });

  it('answers ?format=json, and the docs page’s own copy, with the same document', async () => {
    assert.deepEqual(await schemaOf(s, '/api/schema/?format=json'), doc);
    assert.deepEqual(await schemaOf(s, '/api/docs/json'), doc);
  });

  it('also answers ?format=yaml, as drf-spectacular does', async () => {
    const res = await s.request({ method: 'GET', url: '/api/schema/?format=yaml' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/yaml\b/);
    assert.match(res.body, /^openapi: 3\.1\.0$/m);
  });

  it('lives at /api/schema/ with its trailing slash, as DRF paths do', async () => {
    const res = await s.request({ method: 'GET', url: '/api/schema' });
    assert.equal(res.statusCode, 404);
  });

  it('leaves the routes working as before (the docs copy of a schema is not the route’s)', async () => {
    await s.user({ username: 'docs-user', password: 'pw-docs-123' });
    const login = await s.request({
      method: 'POST',
      url: '/api/token/',
      payload: 'username=docs-user&password=pw-docs-123',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(login.statusCode, 200);
    assert.deepEqual(Object.keys(login.json()).sort(), ['access', 'refresh']);
    const me = await s.get('/api/protected-endpoint/', (login.json() as { access: string }).access);
    assert.deepEqual(me.json(), { message: 'You have accessed a protected route!' });
  });
});

describe('API schema: the default preset set', () => {
  let s: TestServer;
  after(() => s?.close());

  it('lists exactly the configured presets’ paths and methods', async () => {
    s = await startServer();
    const doc = await schemaOf(s);
    assertOpenApi31(doc);
    assert.ok(s.config.presets.includes('simplejwt') && s.config.presets.includes('api-auth'));
    assert.deepEqual(operations(doc, { presetsOnly: true }), presetOperations(s.config.presets));
  });
});

describe('API schema: another preset set (auth-root)', () => {
  let s: TestServer;
  after(() => s?.close());

  it('lists that preset’s own paths', async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'auth-root' } });
    const doc = await schemaOf(s);
    assertOpenApi31(doc);
    const expected = [
      'POST /auth/token',
      'POST /auth/token/refresh',
      'POST /auth/token/verify',
      'POST /auth/register',
      'GET /auth/getuser',
    ].sort();
    assert.deepEqual(expected, presetOperations(['auth-root']));
    assert.deepEqual(operations(doc, { presetsOnly: true }), expected);
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/api/')), 'no simplejwt or api-auth paths');
    assert.deepEqual(doc.paths['/auth/getuser']!.get!.security, [{ bearerAuth: [] }]);
    assert.ok(doc.paths['/auth/register']!.post!.requestBody!.content['application/x-www-form-urlencoded']);
  });
});

describe('API schema: each preset alone', () => {
  for (const id of Object.keys(PRESETS)) {
    it(`${id}: documents exactly its routes, each with its body and success response`, async () => {
      const s = await startServer({ env: { LATCHKEY_PRESETS: id } });
      try {
        const doc = await schemaOf(s);
        assertOpenApi31(doc);
        assert.deepEqual(operations(doc, { presetsOnly: true }), presetOperations([id]));
        for (const r of PRESETS[id]!.routes) {
          const op = doc.paths[openapiPath(r.url)]![r.method.toLowerCase()]!;
          // Every body is described both ways (some routes, like logout-all, take none).
          if (op.requestBody) {
            assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['application/json', 'application/x-www-form-urlencoded']);
          }
          if (['login', 'register', 'refresh', 'verify', 'blacklist'].includes(r.op))
            assert.ok(op.requestBody, `${r.method} ${r.url} body`);
          const success = Object.keys(op.responses).filter((status) => /^2/.test(status));
          assert.equal(success.length, 1, `${r.method} ${r.url}: one success response`);
          if (success[0] !== '204') assert.ok(op.responses[success[0]!]!.content?.['application/json']?.schema);
          if (r.op === 'me') assert.deepEqual(op.security, [{ bearerAuth: [] }]);
          for (const requirement of op.security ?? []) assert.deepEqual(requirement, { bearerAuth: [] });
          // A route documented as protected refuses a request without a token.
          if (op.security && (r.method === 'GET' || r.method === 'DELETE')) {
            const res = await s.request({ method: r.method, url: r.url.replace(/:\w+/g, '1') });
            assert.equal(res.statusCode, 401, `${r.method} ${r.url} without a token`);
          }
        }
      } finally {
        await s.close();
      }
    });
  }
});

describe('docs page', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  /** Every src/href in the page. */
  const references = (html: string) => [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!);

  for (const url of ['/api/docs/', '/api/docs']) {
    it(`GET ${url} is Swagger UI, with local assets only`, async () => {
      const res = await s.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/html\b/);
      assert.match(res.body, /<div id="swagger-ui">/);
      const refs = references(res.body);
      assert.ok(refs.some((r) => r.endsWith('/swagger-ui-bundle.js')));
      assert.ok(refs.some((r) => r.endsWith('/swagger-ui.css')));
      for (const ref of refs) {
        assert.doesNotMatch(ref, /^(https?:)?\/\//i, `${ref} is on another host`);
        // Each one is served here (resolved as the browser would).
        const target = new URL(ref, `http://latchkey.test${url}`);
        assert.equal(target.host, 'latchkey.test');
        const asset = await s.request({ method: 'GET', url: target.pathname });
        assert.equal(asset.statusCode, 200, `${ref} from ${url}`);
      }
    });
  }

  it('tells the browser to load nothing from another host', async () => {
    const res = await s.request({ method: 'GET', url: '/api/docs/' });
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    for (const directive of csp.split(';')) assert.doesNotMatch(directive, /https?:|\*/, directive);
  });

  it('configures Swagger UI to keep the authorization and to use no online validator', async () => {
    const res = await s.request({ method: 'GET', url: '/api/docs/static/swagger-initializer.js' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /"persistAuthorization":\s*true/);
    assert.match(res.body, /validatorUrl: null/);
    // (A comment in it links to a Stack Overflow answer; the code names no host.)
    const code = res.body
      .split('\n')
      .filter((line) => !line.trim().startsWith('//'))
      .join('\n');
    assert.doesNotMatch(code, /https?:\/\//);
  });

  it('serves no stylesheet that pulls from another host', async () => {
    for (const css of ['swagger-ui.css', 'index.css']) {
      const res = await s.request({ method: 'GET', url: `/api/docs/static/${css}` });
      assert.equal(res.statusCode, 200);
      assert.doesNotMatch(res.body, /@import|url\(\s*["']?(https?:)?\/\//i, css);
    }
  });
});
