// The error table (src/errors.ts) against what the README documents and what
// src/ uses; the one translation of internal errors (toApiError); and what
// the server and @latchkey/verify share through the package's wire rules
// (packages/verify/src/wire.ts): the refused JWT header fields, and an import
// graph with nothing heavy in it.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiError, ERRORS, HasherBusyError, StorageUnavailableError, TokenError, toApiError, UniqueViolationError } from '../src/errors.js';
import { createJwtBackend, TokenBackendError } from '../src/jwt.js';
import { hmacKeys } from '../src/keys.js';
import { createVerifier, VerifyError } from '../src/verify/index.js';
import { REFUSED_JWT_HEADERS, TOKEN_MESSAGES } from '@latchkey/verify/wire';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = fileURLToPath(new URL('../', import.meta.url));
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The rows of the table under a README heading, as arrays of cells. */
function tableUnder(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has a "${heading}" section`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/\n## /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return section
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2) // header and separator
    .map((l) =>
      l
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('the error table', () => {
  const rows = tableUnder('## Errors');
  const documented = new Map(rows.map(([code, status]) => [code!.replace(/`/g, ''), Number(status)]));

  it("README's error table lists every code, with its status, and nothing else", () => {
    assert.deepEqual([...documented.keys()].sort(), Object.keys(ERRORS).sort());
    for (const [code, spec] of Object.entries(ERRORS)) assert.equal(documented.get(code), spec.status, code);
  });

  it("each row's default body shows the table's message", () => {
    // invalid and parse_error always carry their own detail (field errors, the parser's reason).
    const ownDetail = new Set(['invalid', 'parse_error']);
    for (const [cell0, , body] of rows) {
      const code = cell0!.replace(/`/g, '') as keyof typeof ERRORS;
      if (ownDetail.has(code)) continue;
      // Examples in the README ("GET", "text/plain") stand where the message has none.
      const shown = body!.replace(/ \\"[^"\\]*\\"/g, '');
      const message = ERRORS[code].message.replace(/\.$/, '');
      assert.ok(shown.includes(message), `${code}: ${body} should show "${message}"`);
    }
  });

  it('every code is used somewhere in src/ besides the table', () => {
    const text = sourceFiles(path.join(ROOT, 'src'))
      .filter((f) => !f.endsWith(`${path.sep}src${path.sep}errors.ts`))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    const unused = Object.keys(ERRORS).filter((code) => !text.includes(`'${code}'`));
    assert.deepEqual(unused, [], `codes no source file uses: ${unused.join(', ')}`);
  });
});

describe('toApiError: one translation per kind of error', () => {
  it('an ApiError is itself', () => {
    const e = new ApiError('throttled', undefined, { retryAfter: 7 });
    assert.equal(toApiError(e), e);
  });

  it('a busy hasher and an unreachable database are a 503 with Retry-After: 1', () => {
    for (const err of [new HasherBusyError(), new StorageUnavailableError(new Error('ECONNREFUSED'))]) {
      const api = toApiError(err);
      assert.ok(api instanceof ApiError);
      assert.equal(api.code, 'service_unavailable');
      assert.equal(api.message, 'Service temporarily unavailable, try again later.');
      assert.equal(api.retryAfter, 1);
    }
  });

  it('a TokenError from a body is SimpleJWT reason as the detail', () => {
    const api = toApiError(new TokenError(TOKEN_MESSAGES.blacklisted));
    assert.equal(api?.code, 'token_not_valid');
    assert.equal(api?.message, 'Token is blacklisted');
    assert.equal(api?.messages, undefined);
  });

  it("a TokenError from the Authorization header is SimpleJWT's protected-route answer", () => {
    const api = toApiError(new TokenError(TOKEN_MESSAGES.wrongType), 'header');
    assert.equal(api?.code, 'token_not_valid');
    assert.equal(api?.message, 'Given token not valid for any token type');
    assert.deepEqual(api?.messages, [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' }]);
  });

  it('anything else is not for the client: undefined, so it is logged and answered 500', () => {
    assert.equal(toApiError(new Error('bug')), undefined);
    assert.equal(toApiError(new UniqueViolationError('username')), undefined);
    assert.equal(toApiError('a string'), undefined);
    assert.equal(toApiError(undefined), undefined);
  });
});

describe('refused JWT header fields: the server and latchkey/verify refuse the same', () => {
  const KEY = 'errors-test-secret-of-at-least-32-bytes!';
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { token_type: 'access', exp: now + 300, iat: now, jti: 'a'.repeat(32), user_id: 1 };
  const sign = (header: Record<string, unknown>) => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64(claims)}`;
    return `${input}.${createHmac('sha256', KEY).update(input).digest('base64url')}`;
  };
  const backend = createJwtBackend({ keys: hmacKeys('HS256', KEY) }, { remember: () => false });
  const verifier = createVerifier({ secret: KEY });
  const VALUES: Record<string, unknown> = {
    jku: 'https://attacker.example/jwks.json',
    jwk: { kty: 'oct', k: Buffer.from(KEY).toString('base64url') },
    x5u: 'https://attacker.example/cert.pem',
    x5c: ['MIIB'],
    crit: ['exp'],
    b64: false,
  };

  it('a token with none of them passes both (the control)', async () => {
    const token = sign({});
    assert.equal(backend.decode(token).user_id, 1);
    assert.equal((await verifier.verify(token)).user_id, 1);
  });

  it('the shared list covers the key-bearing and the extension headers', () => {
    assert.deepEqual([...REFUSED_JWT_HEADERS].sort(), Object.keys(VALUES).sort());
  });

  for (const h of REFUSED_JWT_HEADERS) {
    it(`a validly signed token with "${h}" is refused by both`, async () => {
      const token = sign({ [h]: VALUES[h] });
      assert.throws(() => backend.decode(token), TokenBackendError, 'server');
      await assert.rejects(verifier.verify(token), (err: unknown) => {
        assert.ok(err instanceof VerifyError, `verifier: ${String(err)}`);
        assert.equal(err.code, 'token_not_valid');
        return true;
      });
    });
  }
});

describe('latchkey/verify and latchkey/client load nothing heavy', () => {
  const HEAVY = ['fastify', 'better-sqlite3', 'pg', 'kysely', '@node-rs/argon2', '@node-rs/bcrypt', 'ioredis', 'pino'];

  /** The verifier package's compiled modules (the workspace, packages/verify). */
  const VERIFY_DIST = path.join(ROOT, 'packages/verify/dist');

  /**
   * The bare packages a compiled module reaches through static and dynamic
   * imports. @latchkey/verify is counted and walked into too (index, or the
   * subpath export of the same name), so what it reaches counts as well.
   */
  function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
    const files = new Set<string>();
    const packages = new Set<string>();
    const pending = [entry];
    const spec = /(?:^|[\s;])(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (files.has(file)) continue;
      files.add(file);
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(spec)) {
        const s = (m[1] ?? m[2])!;
        if (s.startsWith('.')) pending.push(path.resolve(path.dirname(file), s));
        else if (s === '@latchkey/verify' || s.startsWith('@latchkey/verify/')) {
          packages.add('@latchkey/verify');
          pending.push(path.join(VERIFY_DIST, `${s.split('/')[2] ?? 'index'}.js`));
        } else if (!s.startsWith('node:')) packages.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
      }
    }
    return { files, packages };
  }

  const WIRE = path.join(VERIFY_DIST, 'wire.js');
  for (const entry of ['src/verify/index.js', 'src/client/index.js', WIRE, path.join(VERIFY_DIST, 'index.js')]) {
    const name = path.isAbsolute(entry) ? path.relative(ROOT, entry) : entry;
    it(name, () => {
      const { files, packages } = reachable(path.isAbsolute(entry) ? entry : path.join(DIST, entry));
      assert.ok(files.size > 1 || entry === WIRE, 'the walk found the modules');
      const heavy = [...packages].filter((p) => HEAVY.includes(p));
      assert.deepEqual(heavy, [], `${name} reaches ${heavy.join(', ')}`);
      if (entry === WIRE) assert.deepEqual([...packages], [], 'wire.ts imports nothing');
      if (entry === 'src/client/index.js') {
        assert.deepEqual([...packages], ['@latchkey/verify'], "the client imports no package but the verifier's wire rules");
        const outside = [...files].filter((f) => f.startsWith(VERIFY_DIST) && f !== WIRE);
        assert.deepEqual(outside, [], 'of the verifier package, the client reaches wire.js alone');
      }
      if (entry.endsWith(`${path.sep}index.js`) && entry.startsWith(VERIFY_DIST)) {
        // (Its own name shows up too: the usage example in index.ts's header comment.)
        const others = [...packages].filter((p) => p !== '@latchkey/verify');
        assert.deepEqual(others, ['jose'], '@latchkey/verify reaches jose and nothing else');
      }
    });
  }

  it('the walk does see a heavy package where there is one (the server)', () => {
    const { packages } = reachable(path.join(DIST, 'src/latchkey.js'));
    for (const p of ['fastify', 'kysely', '@node-rs/argon2']) assert.ok(packages.has(p), p);
  });

  it('in a fresh process, importing latchkey/verify loads none of them', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(new URL('../src/verify/index.js', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../src/client/index.js', import.meta.url).href)});
      const require = createRequire(import.meta.url);
      console.log(JSON.stringify(Object.keys(require.cache)));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const loaded = JSON.parse(r.stdout) as string[];
    const heavy = loaded.filter((f) => HEAVY.some((p) => f.includes(`${path.sep}node_modules${path.sep}${p}${path.sep}`)));
    assert.deepEqual(heavy, []);
    // The control: the same check sees fastify once the server is imported.
    const server = spawnSync(process.execPath, ['--input-type=module', '-e', script.replace('verify/index.js', 'latchkey.js')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(server.status, 0, server.stderr);
    assert.ok((JSON.parse(server.stdout) as string[]).some((f) => f.includes(`${path.sep}node_modules${path.sep}fastify${path.sep}`)));
  });
});
