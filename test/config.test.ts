// The settings table (src/config.ts): README's configuration table is the one
// it generates, each default is what loadConfig really gives, CLI overrides go
// through the same schemas, and the result cannot be changed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, SETTINGS, settingError, settingsMarkdown } from '../src/config.js';
import { usableCores } from '../src/cores.js';
import { ConfigError } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = { LATCHKEY_SIGNING_KEY: 'config-test-key-of-at-least-32-bytes!!' };

/** README's table under "## Configuration", line by line. */
function readmeTable(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration\n'));
  const lines = section.split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rest = lines.slice(first);
  return rest.slice(
    0,
    rest.findIndex((l) => !l.startsWith('|')),
  );
}

describe('README configuration table', () => {
  it('is the table settingsMarkdown() generates from SETTINGS (regenerate: npm run --silent config-table)', () => {
    assert.deepEqual(readmeTable(), settingsMarkdown().split('\n'));
  });

  it('has one row per setting, each variable once', () => {
    const names = readmeTable()
      .slice(2)
      .map((l) => /^\| `([A-Z0-9_]+)` \|/.exec(l)?.[1]);
    assert.deepEqual(
      names,
      SETTINGS.map((s) => s.env),
    );
    assert.equal(new Set(names).size, names.length);
  });

  it('every default it shows in code font is what loadConfig gives when the variable is unset', () => {
    const config = loadConfig({}) as unknown as Record<string, unknown>;
    const valueAt = (key: string) => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
    for (const row of readmeTable().slice(2)) {
      const [, name, shown] = /^\| `([A-Z0-9_]+)` \| (.*?) \| /.exec(row)!;
      const setting = SETTINGS.find((s) => s.env === name)!;
      const value = valueAt(setting.key);
      const code = /^`([^`]*)`$/.exec(shown!)?.[1];
      if (shown === 'none') assert.equal(value, undefined, name);
      else if (code === undefined)
        continue; // described in words (the number of cores, per preset...)
      else if (name === 'LATCHKEY_DATA_DIR') assert.equal(value, path.resolve(code), name);
      else if (name === 'LATCHKEY_DATABASE_URL') assert.equal(value, `sqlite:${path.resolve('data', 'latchkey.sqlite3')}`);
      else if (typeof value === 'object' && value !== null && 'points' in value && 'duration' in value) {
        assert.equal(`${String(value.points)}/${String(value.duration)}`, code, name);
      } else if (typeof value === 'boolean') assert.equal(value, code === 'on', name);
      else if (Array.isArray(value)) assert.equal(value.join(','), code, name);
      else assert.equal(String(value), code, name);
    }
  });

  it('the defaults described in words hold too', () => {
    const config = loadConfig({});
    assert.equal(config.workers, usableCores());
    assert.equal(config.hashConcurrency, Math.max(1, Math.floor((usableCores() - 1) / config.workers)));
    assert.equal(config.signingKey, undefined);
    assert.equal(config.rotateRefreshTokens, undefined);
  });
});

describe('loadConfig', () => {
  it('names the variable and the reason for a bad value, as before', () => {
    const cases: [Record<string, string>, string][] = [
      [{ PORT: '99999' }, 'PORT: must be a port number from 0 to 65535'],
      [{ PORT: 'eighty' }, 'PORT: must be a port number from 0 to 65535'],
      [{ LATCHKEY_ACCESS_TOKEN_LIFETIME: 'abc' }, 'LATCHKEY_ACCESS_TOKEN_LIFETIME: must be a number of seconds'],
      [{ LATCHKEY_REFRESH_TOKEN_LIFETIME: '-5' }, 'LATCHKEY_REFRESH_TOKEN_LIFETIME: must be positive'],
      [{ LATCHKEY_LOGIN_THROTTLE: 'maybe' }, 'LATCHKEY_LOGIN_THROTTLE: must be one of on/off, true/false, 1/0, yes/no'],
      [{ LATCHKEY_PRESETS: ' , ' }, 'LATCHKEY_PRESETS: name at least one preset'],
      [{ LATCHKEY_DATABASE_URL: 'mysql://x/y' }, 'LATCHKEY_DATABASE_URL: must start with sqlite: or postgres://'],
      [{ LATCHKEY_THROTTLE_REFRESH: '10' }, 'LATCHKEY_THROTTLE_REFRESH: must be POINTS/SECONDS, such as 10/300'],
      [{ LATCHKEY_WORKERS: '0' }, 'LATCHKEY_WORKERS: must be a whole number from 1 to 256'],
      [{ LATCHKEY_SIGNING_KEY: 'short' }, 'LATCHKEY_SIGNING_KEY: an HMAC key must be at least 32 bytes; this one is 5'],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.message === message,
        message,
      );
    }
  });

  it('parses, nests and resolves values', () => {
    const c = loadConfig({
      ...KEY,
      LATCHKEY_PRESETS: ' simplejwt , auth-root ',
      LATCHKEY_ARGON2_MEMORY_KIB: '65536',
      LATCHKEY_THROTTLE_VERIFY: '5/10',
      LATCHKEY_ROTATE_REFRESH_TOKENS: 'off',
      LATCHKEY_DATA_DIR: '/tmp/lk-config',
    });
    assert.deepEqual(c.presets, ['simplejwt', 'auth-root']);
    assert.equal(c.argon2.memoryCost, 65536);
    assert.deepEqual(c.limits.verify, { points: 5, duration: 10 });
    assert.deepEqual(c.limits.refresh, { points: 600, duration: 60 });
    assert.equal(c.rotateRefreshTokens, false);
    assert.equal(c.databaseUrl, 'sqlite:/tmp/lk-config/latchkey.sqlite3');
    assert.equal(c.signingKey, KEY.LATCHKEY_SIGNING_KEY);
  });

  it('command-line overrides win over the environment and go through the same schema', () => {
    const c = loadConfig({ PORT: '9000', HOST: '0.0.0.0', LATCHKEY_WORKERS: '2' }, { PORT: '18301', LATCHKEY_WORKERS: 4 });
    assert.equal(c.port, 18301);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.workers, 4);
    // Derived settings see the override: hashes are shared by the overriding worker count.
    assert.equal(c.hashConcurrency, Math.max(1, Math.floor((usableCores() - 1) / 4)));
    assert.throws(() => loadConfig({}, { PORT: '70000' }), /^ConfigError: PORT: must be a port number from 0 to 65535$/);
    assert.throws(() => loadConfig({}, { LATCHKEY_WORKERS: 'many' }), /LATCHKEY_WORKERS: must be a whole number from 1 to 256/);
    assert.equal(loadConfig({ PORT: '9000' }, { PORT: undefined }).port, 9000, 'an undefined override leaves the variable');
  });

  it('settingError checks one value as loadConfig would (the CLI uses it for --port, --workers, --host)', () => {
    assert.equal(settingError('PORT', '8080'), undefined);
    assert.equal(settingError('PORT', '65536'), 'must be a port number from 0 to 65535');
    assert.equal(settingError('LATCHKEY_WORKERS', '1.5'), 'must be a whole number from 1 to 256');
    assert.equal(typeof settingError('HOST', ''), 'string');
  });

  it('is frozen all the way down', () => {
    const c = loadConfig(KEY);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.argon2) && Object.isFrozen(c.limits));
    assert.ok(Object.isFrozen(c.limits.loginAccount) && Object.isFrozen(c.presets));
    const writable = c as unknown as {
      port: number;
      argon2: { memoryCost: number };
      limits: { refresh: { points: number } };
      presets: string[];
    };
    assert.throws(() => {
      writable.port = 1;
    }, TypeError);
    assert.throws(() => {
      writable.argon2.memoryCost = 1;
    }, TypeError);
    assert.throws(() => {
      writable.limits.refresh.points = 1;
    }, TypeError);
    assert.throws(() => writable.presets.push('users'), TypeError);
    assert.equal(c.port, 8000);
    assert.equal(c.argon2.memoryCost, 19456);
    assert.equal(c.limits.refresh.points, 600);
    // Each load is its own: freezing one never touches the defaults the next one starts from.
    assert.deepEqual(loadConfig(KEY).limits.refresh, { points: 600, duration: 60 });
  });
});
