// Reads preset files (JSON or YAML), validates them against the format
// (schema.ts) and the rules a schema cannot say (one route per method and
// path, unique operationIds, `:id` where an operation takes it), and applies
// `prefix`. Every failure is a ConfigError of one line:
// `<file>: <JSON path>: <reason>`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { operationSchema, presetFileSchema } from './schema.js';
import type { Operation, Preset } from './types.js';

const EXTENSIONS = ['.json', '.yaml', '.yml'];
/** The YAML parser, loaded for the first YAML file only (it costs a server without one ~25 ms at start). */
const parseYaml = (text: string): unknown => (createRequire(import.meta.url)('yaml') as typeof Yaml).parse(text, { prettyErrors: false });
const NAME_RULE = "a preset file's name ends in .json, .yaml or .yml";
const OPERATION_NAMES = operationSchema.options.map((o) => o.shape.op.value);

/** Whether a LATCHKEY_PRESETS entry is a file path rather than a built-in name. */
export const isPresetPath = (entry: string) => entry.includes('/') || EXTENSIONS.some((e) => entry.toLowerCase().endsWith(e));

/** `$.routes[2].op`, from a zod issue's path. */
export function jsonPath(segments: readonly PropertyKey[]): string {
  return (
    '$' +
    segments
      .map((s) =>
        typeof s === 'number'
          ? `[${s}]`
          : typeof s === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)
            ? `.${s}`
            : `[${JSON.stringify(String(s))}]`,
      )
      .join('')
  );
}

const at = (value: unknown, segments: readonly PropertyKey[]): unknown =>
  segments.reduce<unknown>((v, s) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[s] : undefined), value);

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** A value from the file, as JSON, cut short. */
const shown = (value: unknown) => {
  const j = JSON.stringify(value) ?? String(value);
  return j.length > 40 ? `${j.slice(0, 39)}…` : j;
};

/** The first problem zod found, as `<JSON path>: <reason>`. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const p = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return `${jsonPath([...p, issue.keys[0]!])}: unknown key${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : ''}`;
    case 'invalid_key':
      return `${jsonPath([...p])}: ${oneLine(issue.issues[0]?.message ?? issue.message)}`;
    case 'invalid_union': {
      const disc = (issue as { discriminator?: string }).discriminator;
      if (disc) {
        const where = p[p.length - 1] === disc ? p : [...p, disc];
        const value = at(input, where);
        return value === undefined
          ? `${jsonPath(where)}: missing (every route names its operation)`
          : `${jsonPath(where)}: ${shown(value)} is not an operation (one of ${OPERATION_NAMES.join(', ')})`;
      }
      return `${jsonPath(p)}: ${oneLine(issue.message)}`;
    }
    default:
      if (p.length > 0 && at(input, p) === undefined && at(input, p.slice(0, -1)) !== undefined)
        return `${jsonPath(p)}: missing (required)`;
      return `${jsonPath(p)}: ${oneLine(issue.message)}`;
  }
}

/** The route's operationId in the API docs (openapi.ts writes the same). */
const operationIdOf = (id: string, r: Operation) => r.operationId ?? `${id.replace(/-/g, '_')}_${r.op}`;

/** The operations that read an `:id` path parameter. */
const takesId = (r: Operation) => r.op === 'revoke_session' || (r.op === 'user_detail' && r.target === 'id');

/** What a schema cannot check; the first problem, as `<JSON path>: <reason>`. */
function checkRoutes(id: string, routes: readonly Operation[]): string | undefined {
  const byPath = new Map<string, number>();
  const byOpId = new Map<string, number>();
  for (const [i, r] of routes.entries()) {
    const key = `${r.method} ${r.url}`;
    const other = byPath.get(key);
    if (other !== undefined) return `${jsonPath(['routes', i])}: ${key} is already served by ${jsonPath(['routes', other])}`;
    byPath.set(key, i);
    const params = [...r.url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
    if (takesId(r) && !params.includes('id')) return `${jsonPath(['routes', i, 'url'])}: ${r.op} needs an ":id" path parameter`;
    const extra = params.find((name) => !(takesId(r) && name === 'id'));
    if (extra) return `${jsonPath(['routes', i, 'url'])}: ${r.op} takes no ":${extra}" path parameter`;
    const opId = operationIdOf(id, r);
    const first = byOpId.get(opId);
    if (first !== undefined) {
      return `${jsonPath(['routes', i, 'operationId'])}: "${opId}" is also ${jsonPath(['routes', first])}'s; give each route with op "${r.op}" its own operationId`;
    }
    byOpId.set(opId, i);
  }
  return undefined;
}

/**
 * A preset from a parsed file's value: validated, `id` defaulting to
 * `defaultId`, `prefix` applied. `source` names the file in errors.
 */
export function presetFromValue(value: unknown, source: string, defaultId: string): Preset {
  const fail = (what: string): never => {
    throw new ConfigError(`${source}: ${what}`);
  };
  const parsed = presetFileSchema.safeParse(value);
  if (!parsed.success) {
    // A misspelt key is also a missing one: name the misspelling.
    const issues = parsed.error.issues;
    return fail(describeIssue(issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!, value));
  }
  const { $schema: _schema, id = defaultId, document = source, prefix, ...rest } = parsed.data;
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) {
    fail(`$.id: missing, and the file name "${defaultId}" is no preset id (lower-case letters, digits, - and _): set "id"`);
  }
  const problem = checkRoutes(id, rest.routes as Operation[]);
  if (problem) fail(problem);
  const preset = { id, document, ...rest } as Preset;
  return prefix ? withPrefix(preset, prefix) : preset;
}

/** The preset mounted under `prefix`: every URL, the not-found area and the guarded paths. */
function withPrefix(preset: Preset, prefix: string): Preset {
  return {
    ...preset,
    prefix,
    routes: preset.routes.map((r) => ({ ...r, url: prefix + r.url })),
    ...(preset.notFound ? { notFound: { ...preset.notFound, prefix: prefix + preset.notFound.prefix } } : {}),
    ...(preset.guarded ? { guarded: preset.guarded.map((g) => prefix + g) } : {}),
  };
}

/** Parses a preset file's text: JSON by a `.json` name, else YAML. */
export function presetFromText(text: string, source: string): Preset {
  const ext = path.extname(source).toLowerCase();
  if (!EXTENSIONS.includes(ext)) throw new ConfigError(`${source}: ${NAME_RULE}`);
  let value: unknown;
  try {
    const body = text.replace(/^\uFEFF/, ''); // an editor's byte order mark
    value = ext === '.json' ? JSON.parse(body) : parseYaml(body);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    throw new ConfigError(`${source}: $: not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${oneLine(reason)}`);
  }
  return presetFromValue(value, source, path.basename(source, path.extname(source)));
}

/** Reads and validates a preset file; `file` is relative to `cwd` and named as given in errors. */
export function readPresetFile(file: string, cwd = process.cwd()): Preset {
  if (!EXTENSIONS.includes(path.extname(file).toLowerCase())) throw new ConfigError(`${file}: ${NAME_RULE}`);
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${file}: cannot read the preset file (${code === 'ENOENT' ? 'no such file' : (code ?? String(err))})`);
  }
  return presetFromText(text, file);
}
