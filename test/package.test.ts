// What npm would publish. @latchkey/verify: packed with `npm pack`, installed
// from the tarball into a scratch project that has nothing else, imported there
// by a plain node process, which verifies a token from a running latchkey's
// JWKS; the scratch node_modules then holds the package and jose, and none of
// the server's dependencies. latchkey itself: `npm pack --dry-run` lists no
// tests, benchmarks or CI files, and every file package.json points to. And
// scripts/check-engines.ts, the CI check against EBADENGINE.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer, tempDir, type TestServer } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERIFY = path.join(ROOT, 'packages/verify');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/**
 * The environment for npm, without the npm_* variables an outer `npm test`
 * sets (npm_config_local_prefix and the like), so the inner npm works where it
 * is told to, as a user's npm would.
 */
const NPM_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/**
 * `npm pack --json` in `dir`. Scripts are skipped: the test run has built
 * both packages already, and `prepare` would build the server again.
 */
async function pack(dir: string, args: string[]): Promise<PackResult> {
  const { stdout } = await run(NPM, ['pack', '--json', '--ignore-scripts', ...args], {
    cwd: dir,
    env: NPM_ENV,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [result] = JSON.parse(stdout) as PackResult[];
  assert.ok(result, 'npm pack reported the package');
  return result;
}

/** Every file package.json names: exports targets, types and bin. */
function namedFiles(pkg: { exports?: unknown; bin?: unknown; main?: unknown; types?: unknown }): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(path.posix.normalize(v));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(pkg.exports);
  walk(pkg.bin);
  walk(pkg.main);
  walk(pkg.types);
  return out;
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('@latchkey/verify, packed and installed on its own', () => {
  let work: string;
  let scratch: string;
  let packed: PackResult;
  let server: TestServer;
  let jwksUrl: string;
  let userId: number;

  before(async () => {
    assert.ok(fs.existsSync(path.join(VERIFY, 'dist/index.js')), 'packages/verify is built (tsc -b packages/verify)');
    work = tempDir('latchkey-pack-');
    packed = await pack(VERIFY, ['--pack-destination', work]);
    scratch = path.join(work, 'scratch');
    fs.mkdirSync(scratch);
    fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    // jose comes from npm's cache when it is there (it is, after latchkey's own install).
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, packed.filename)], {
      cwd: scratch,
      env: NPM_ENV,
      maxBuffer: 16 * 1024 * 1024,
    });

    server = await startServer({ env: { LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: '' } });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    jwksUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}/.well-known/jwks.json`;
    ({ id: userId } = await server.user({ username: 'packed', password: 'pw-packed-12345' }));
  });
  after(async () => {
    await server?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the tarball holds the compiled package, its types and the licence, and every file package.json names', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/wire.js', 'dist/claims.js']) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    for (const f of namedFiles(readJson(path.join(VERIFY, 'package.json')))) {
      if (f !== 'package.json') assert.ok(files.includes(f), `${f}, named in package.json, is packed`);
    }
    assert.deepEqual(
      files.filter((f) => f.endsWith('.tsbuildinfo') || f.startsWith('test/') || f === 'tsconfig.json'),
      [],
    );
  });

  it('installs with jose as its only dependency: no better-sqlite3, pg or fastify', () => {
    const modules = path.join(scratch, 'node_modules');
    const installed = fs
      .readdirSync(modules)
      .filter((d) => !d.startsWith('.'))
      .flatMap((d) => (d.startsWith('@') ? fs.readdirSync(path.join(modules, d)).map((s) => `${d}/${s}`) : [d]))
      .sort();
    assert.deepEqual(installed, ['@latchkey/verify', 'jose']);
    for (const heavy of ['better-sqlite3', 'pg', 'fastify']) assert.equal(fs.existsSync(path.join(modules, heavy)), false, heavy);
    // Installed from the tarball, not linked to this repository.
    assert.equal(fs.lstatSync(path.join(modules, '@latchkey/verify')).isSymbolicLink(), false);
    const lock = readJson(path.join(scratch, 'package-lock.json')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    assert.deepEqual(
      Object.entries(lock.packages)
        .filter(([, p]) => p.hasInstallScript)
        .map(([n]) => n),
      [],
      'nothing to build on install',
    );
  });

  it("a plain node process in the scratch project verifies a token from the running server's JWKS", async () => {
    const { access, refresh } = await server.service.issuePair(userId);
    const script = `
      import { createVerifier, VerifyError } from '@latchkey/verify';
      const verifier = createVerifier({ jwksUrl: process.env.JWKS_URL });
      const claims = await verifier.authenticate('Bearer ' + process.env.ACCESS);
      const wrongType = await verifier.verify(process.env.REFRESH).then(
        () => 'accepted',
        (err) => (err instanceof VerifyError ? { status: err.status, body: err.body } : String(err)),
      );
      console.log(JSON.stringify({ user_id: claims.user_id, token_type: claims.token_type, wrongType }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: scratch,
      env: { ...process.env, JWKS_URL: jwksUrl, ACCESS: access, REFRESH: refresh },
      timeout: 60_000,
    });
    assert.deepEqual(JSON.parse(stdout), {
      user_id: userId,
      token_type: 'access',
      wrongType: {
        status: 401,
        body: {
          detail: 'Given token not valid for any token type',
          code: 'token_not_valid',
          messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' }],
        },
      },
    });
  });
});

describe('latchkey, as npm would pack it', () => {
  let files: string[];

  before(async () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/src/cli.js')), 'latchkey is built');
    files = (await pack(ROOT, ['--dry-run'])).files.map((f) => f.path);
  });

  it('ships no tests, benchmarks, CI or workspace files', () => {
    const unwanted = files.filter((f) => /^(test|bench|\.ci|packages|coverage|data|dist\/test|dist\/bench|node_modules)\//.test(f));
    assert.deepEqual(unwanted, []);
    assert.deepEqual(
      files.filter((f) => /(^|\/)(tsconfig\.json|eslint\.config\.js|\.c8rc\.json|\.prettierrc)$/.test(f)),
      [],
    );
  });

  it('ships the licence, the changelog, the README and every file package.json names', () => {
    for (const f of ['package.json', 'LICENSE', 'CHANGELOG.md', 'README.md']) assert.ok(files.includes(f), `${f} is packed`);
    const named = namedFiles(readJson(path.join(ROOT, 'package.json'))).filter((f) => f !== 'package.json');
    assert.ok(named.includes('dist/src/cli.js'));
    for (const f of named) assert.ok(files.includes(f), `${f}, named in package.json, is packed`);
  });

  it('ships the built-in preset files, which dist/src/presets/index.js reads from src/presets/builtin/', () => {
    const builtin = fs.readdirSync(path.join(ROOT, 'src/presets/builtin')).map((f) => `src/presets/builtin/${f}`);
    assert.ok(builtin.length >= 7, builtin.join(', '));
    for (const f of builtin) assert.ok(files.includes(f), `${f} is packed`);
  });
});

describe('npm run check:engines', () => {
  const SCRIPT = fileURLToPath(new URL('../scripts/check-engines.js', import.meta.url));

  it("passes on this repository's lockfile: every package accepts Node 20", async () => {
    const { stdout } = await run(process.execPath, [SCRIPT, path.join(ROOT, 'package-lock.json')]);
    assert.match(stdout, /all \d+ packages accept Node 20\.0\.0/);
  });

  it('fails, naming each package, on a lockfile with one that needs Node 22', async () => {
    const dir = tempDir('latchkey-engines-');
    try {
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', engines: { node: '>=20' } }));
      const packages = {
        '': { name: 'x', engines: { node: '>=20' } },
        'node_modules/cookie': { version: '2.0.2', engines: { node: '>=22' } },
        'node_modules/old': { version: '1.0.0', engines: ['node >=0.4'] },
        'node_modules/tool': { version: '1.0.0', dev: true, engines: { node: '^20.19.0 || >=22.12' } },
        'node_modules/fine': { version: '1.0.0', engines: { node: '>=18' } },
      };
      fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }));
      const failed = await run(process.execPath, [SCRIPT, path.join(dir, 'package-lock.json')]).then(
        () => assert.fail('check:engines passed'),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(failed.code, 1);
      // Without devEngines, dev tools are held to engines.node too: 20.0.0.
      const named = failed.stderr
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) => l.trim().split(' ')[0]);
      assert.deepEqual(named, ['cookie@2.0.2', 'tool@1.0.0']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
