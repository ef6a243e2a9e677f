// `latchkey presets schema|show|check`, run as the real command line, the
// published JSON Schema checked by an independent validator (Ajv) against the
// built-in files and a user's file, `serve` refusing a bad file, and
// scripts/preset-to-file.js turning a TS preset into a file that loads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { stringify } from 'yaml';
import { readPresetFile } from '../src/presets/files.js';
import { PRESETS } from '../src/presets/index.js';
import { tempDir } from './helpers.js';
import { ACME } from './preset-fixture.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

function run(args: string[], dataDir = tempDir(), extra: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LATCHKEY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  const r = spawnSync(process.execPath, args[0]?.endsWith('.js') ? args : [CLI, ...args], {
    cwd: ROOT,
    env: { ...env, LATCHKEY_DATA_DIR: dataDir, ...extra },
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
type Run = ReturnType<typeof run>;
const show = (r: Run) => `status ${r.status} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** A non-zero exit with exactly one line on stderr; that line. */
function failureLine(r: Run): string {
  assert.equal(r.signal, null, show(r));
  assert.ok(r.status !== null && r.status !== 0, show(r));
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, show(r));
  return lines[0]!;
}

function writeFile(name: string, value: unknown): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, name.endsWith('.json') ? JSON.stringify(value, null, 2) : stringify(value));
  return file;
}

const withBadOp = () => ({ ...ACME, routes: ACME.routes.map((r, i) => (i === 2 ? { ...r, op: 'fly' } : r)) });

describe('latchkey presets schema', () => {
  const r = run(['presets', 'schema']);
  const schema = JSON.parse(r.stdout) as Record<string, unknown>;
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);

  it('prints a JSON Schema (2020-12) of the preset file format', () => {
    assert.equal(r.status, 0, show(r));
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(((schema.required as string[]) ?? []).sort(), ['envelope', 'rotate', 'routes']);
  });

  it('accepts every built-in preset file and a user file, JSON or YAML', () => {
    const dir = new URL('../../src/presets/builtin/', import.meta.url);
    for (const f of fs.readdirSync(dir)) {
      const value: unknown = JSON.parse(fs.readFileSync(new URL(f, dir), 'utf8'));
      assert.ok(validate(value), `${f}: ${JSON.stringify(validate.errors)}`);
    }
    assert.ok(validate(ACME), JSON.stringify(validate.errors));
  });

  it('rejects what the loader rejects: an unknown key, an unknown operation, a bad login field', () => {
    assert.equal(validate({ ...ACME, rotation: true }), false);
    assert.equal(validate(withBadOp()), false);
    assert.equal(validate({ ...ACME, routes: [{ ...ACME.routes[0], lookup: 'nickname' }] }), false);
    assert.equal(validate({ ...ACME, routes: [{ ...ACME.routes[1], colour: 'red' }] }), false);
    assert.equal(validate({ ...ACME, routes: [{ ...ACME.routes[0], errors: { wrong_password: { message: 'x' } } }] }), false);
    assert.equal(validate({ ...ACME, prefix: '/api/v1/' }), false);
  });
});

describe('latchkey presets show', () => {
  it('prints a built-in preset: its settings line, then method, path, op, protected, summary', () => {
    const r = run(['presets', 'show', 'simplejwt']);
    assert.equal(r.status, 0, show(r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'preset simplejwt (003_6e9cd25cd55e3a06.txt): envelope detail, rotate no, Authorization Bearer');
    assert.deepEqual(lines[1]!.split(/\s{2,}/), ['method', 'path', 'op', 'protected', 'summary']);
    const rows = lines.slice(2).map((l) => l.split(/\s{2,}/));
    assert.deepEqual(
      rows.map((c) => c.slice(0, 4)),
      PRESETS.simplejwt!.routes.map((x) => [x.method, x.url, x.op, x.op === 'me' ? 'yes' : 'no']),
    );
    assert.deepEqual(rows[0], ['POST', '/api/token/', 'login', 'no', 'Obtain a token pair']);
  });

  it('prints a preset file (YAML) with its prefix applied, and --json the preset as loaded', () => {
    const file = writeFile('acme.yaml', ACME);
    const r = run(['presets', 'show', file]);
    assert.equal(r.status, 0, show(r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'preset acme (Acme mobile API v1): envelope error, rotate yes, Authorization JWT, prefix /api/v1');
    assert.deepEqual(lines[2]!.split(/\s{2,}/), ['POST', '/api/v1/auth/jwt/create/', 'login', 'no', 'Sign in with email and password']);
    assert.deepEqual(lines[6]!.split(/\s{2,}/), ['GET', '/api/v1/auth/whoami/', 'me', 'yes', 'Who is signed in']);
    const j = run(['presets', 'show', '--json', file]);
    assert.deepEqual(JSON.parse(j.stdout), readPresetFile(file));
  });

  it('an unknown name or a bad file: one line, non-zero', () => {
    assert.match(
      failureLine(run(['presets', 'show', 'nope'])),
      /^latchkey: LATCHKEY_PRESETS: unknown preset "nope"; known presets are simplejwt, /,
    );
    const bad = writeFile('bad.json', withBadOp());
    assert.match(
      failureLine(run(['presets', 'show', bad])),
      new RegExp(`^latchkey: ${bad}: \\$\\.routes\\[2\\]\\.op: "fly" is not an operation`),
    );
  });
});

describe('latchkey presets check', () => {
  it('a good file: exit 0, "ok"', () => {
    const r = run(['presets', 'check', writeFile('acme.json', ACME)]);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, 'ok\n');
    assert.equal(r.stderr, '');
  });

  it('a bad file: exit 1, one line with the file, the JSON path and the reason', () => {
    const bad = writeFile('bad.yaml', { ...ACME, routes: [{ ...ACME.routes[0], loginField: undefined }] });
    assert.equal(failureLine(run(['presets', 'check', bad])), `latchkey: ${bad}: $.routes[0].loginField: missing (required)`);
    const r = run(['presets', 'check', writeFile('unknown.json', { ...ACME, colour: 'red' })]);
    assert.match(failureLine(r), /: \$\.colour: unknown key$/);
  });
});

describe('latchkey serve with a bad preset file', () => {
  it('exits 1 before listening, with the one line', () => {
    const bad = writeFile('bad.json', withBadOp());
    const r = run(['serve'], tempDir(), { LATCHKEY_PRESETS: `simplejwt,${bad}`, LATCHKEY_PORT: '0', LATCHKEY_WORKERS: '1' });
    assert.match(failureLine(r), new RegExp(`^latchkey: ${bad}: \\$\\.routes\\[2\\]\\.op: "fly" is not an operation`));
  });
});

describe('scripts/preset-to-file.js', () => {
  it('dumps a TS preset object to a file that loads as that preset (JSON, and YAML with --yaml)', () => {
    const dir = tempDir();
    const mod = path.join(dir, 'made-up.mjs');
    fs.writeFileSync(
      mod,
      `export const madeUp = ${JSON.stringify({ ...ACME, id: 'made-up', prefix: undefined })};\nexport const other = 1;\n`,
    );
    const script = path.join(ROOT, 'dist', 'scripts', 'preset-to-file.js');
    for (const [ext, args] of [
      ['json', [script, mod]],
      ['yaml', [script, mod, 'madeUp', '--yaml']],
    ] as const) {
      const r = run([...args]);
      assert.equal(r.status, 0, show(r));
      const file = path.join(dir, `made-up.${ext}`);
      fs.writeFileSync(file, r.stdout);
      const loaded = readPresetFile(file);
      assert.equal(loaded.id, 'made-up');
      assert.deepEqual(loaded.routes, ACME.routes);
    }
    assert.match(failureLine(run([script, mod, 'other'])), /no preset exported as "other"/);
  });
});
