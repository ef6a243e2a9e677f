// The presets: five, one per seed document in ../shared/seeds/, `account`,
// latchkey's own self-service routes in DRF's shape, and `djoser`. Each is a
// preset file in builtin/, in the format users write their own in
// (schema.ts), loaded as LATCHKEY_PRESETS loads theirs (files.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { isPresetPath, presetFromText, readPresetFile } from './files.js';
import type { Preset } from './types.js';

/**
 * The built-in files, src/presets/builtin/, found from the compiled module
 * (dist/src/presets/): nothing copies them into dist, and the package ships src/.
 */
const BUILTIN_DIR = new URL('../../../src/presets/builtin/', import.meta.url);

const ORDER = ['simplejwt', 'api-auth', 'auth-root', 'users', 'phone', 'account', 'djoser'];
const rank = (id: string) => (ORDER.includes(id) ? ORDER.indexOf(id) : ORDER.length);

/** The built-in presets, by id: every file in builtin/, the first seven in this order. */
export const PRESETS: Record<string, Preset> = Object.fromEntries(builtinFiles().map((f) => [f.id, f]));

function builtinFiles(): Preset[] {
  const files = readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return files.map((id) => presetFromText(readFileSync(new URL(`${id}.json`, BUILTIN_DIR), 'utf8'), `builtin/${id}.json`));
}

/**
 * The presets named by LATCHKEY_PRESETS, built-in names or preset files
 * (relative to `cwd`); fails on an unknown name, a bad file, or two presets
 * claiming one id or one route.
 */
export function selectPresets(names: readonly string[], cwd = process.cwd()): Preset[] {
  const chosen: Preset[] = [];
  for (const name of new Set(names)) {
    if (isPresetPath(name)) {
      chosen.push(readPresetFile(name, cwd));
      continue;
    }
    const preset = PRESETS[name];
    if (!preset) {
      throw new ConfigError(
        `LATCHKEY_PRESETS: unknown preset "${name}"; known presets are ${Object.keys(PRESETS).join(', ')}, ` +
          'or a preset file (a path containing "/", or ending in .json, .yaml or .yml)',
      );
    }
    chosen.push(preset);
  }
  const ids = new Map<string, number>();
  for (const [i, p] of chosen.entries()) {
    const first = ids.get(p.id);
    if (first !== undefined) {
      throw new ConfigError(
        `LATCHKEY_PRESETS: "${[...new Set(names)][first]}" and "${[...new Set(names)][i]}" are both preset "${p.id}"; give a preset file its own "id"`,
      );
    }
    ids.set(p.id, i);
  }
  const owner = new Map<string, string>();
  for (const preset of chosen) {
    for (const route of preset.routes) {
      const key = `${route.method} ${route.url}`;
      const other = owner.get(key);
      if (other) {
        throw new ConfigError(`LATCHKEY_PRESETS: presets "${other}" and "${preset.id}" both serve ${key}; mount only one of them`);
      }
      owner.set(key, preset.id);
    }
  }
  return chosen;
}

/** Whether a route gives a client a token pair without one: a login, or a registration that answers a pair. */
const issuesTokens = (r: Preset['routes'][number]) =>
  r.op === 'login' ||
  r.op === 'login_sliding' ||
  r.op === 'login_form' ||
  r.op === 'register_form' ||
  (r.op === 'register' && r.respond !== 'id');

/**
 * `serve` refuses presets that offer no way to obtain a token (say
 * LATCHKEY_PRESETS=account alone): every protected route would answer 401 forever.
 */
export function requireTokenRoute(presets: readonly Preset[]): void {
  if (presets.some((p) => p.routes.some(issuesTokens))) return;
  const ids = presets.map((p) => p.id).join(',');
  const login = Object.values(PRESETS)
    .filter((p) => p.routes.some(issuesTokens))
    .map((p) => p.id);
  throw new ConfigError(
    `LATCHKEY_PRESETS=${ids} mounts no route that issues tokens (no login, and no registration answering a token pair), ` +
      `so no client could ever sign in. Add a preset that does (${login.join(', ')}), e.g. LATCHKEY_PRESETS=simplejwt,${ids}`,
  );
}
