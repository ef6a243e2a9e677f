// Dumps a TypeScript Preset object to the preset file format (JSON, or YAML
// with --yaml), validated as LATCHKEY_PRESETS would load it. For turning a
// preset written as TS data into a built-in file:
//
//   npm run build
//   node dist/scripts/preset-to-file.js dist/src/presets/dj-rest-auth.js [exportName] > src/presets/builtin/dj-rest-auth.json
//   npx prettier --write src/presets/builtin/dj-rest-auth.json
//
// Without exportName, the module's one export that looks like a preset (has `routes`).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { presetFromValue } from '../src/presets/files.js';
import type { Preset } from '../src/presets/types.js';

const isPreset = (v: unknown): v is Preset => typeof v === 'object' && v !== null && Array.isArray((v as Preset).routes);

/** The file's value: the preset as plain JSON (no undefined, no functions), `id` first. */
export function presetToFileValue(preset: Preset): Record<string, unknown> {
  return JSON.parse(JSON.stringify(preset)) as Record<string, unknown>;
}

async function main(argv: string[]): Promise<number> {
  const yaml = argv.includes('--yaml');
  const [file, name] = argv.filter((a) => a !== '--yaml');
  if (!file) {
    console.error('usage: node dist/scripts/preset-to-file.js <compiled module.js> [exportName] [--yaml]');
    return 2;
  }
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const candidates = name ? [[name, mod[name]] as const] : Object.entries(mod).filter(([, v]) => isPreset(v));
  if (candidates.length !== 1 || !isPreset(candidates[0]![1])) {
    console.error(
      name
        ? `${file}: no preset exported as "${name}"`
        : `${file}: exports ${candidates.length} presets; name one (${candidates.map(([n]) => n).join(', ')})`,
    );
    return 2;
  }
  const value = presetToFileValue(candidates[0]![1]);
  // Validates it as a preset file, so a file this writes always loads.
  presetFromValue(value, `${file}#${candidates[0]![0]}`, String(value.id));
  process.stdout.write(yaml ? stringify(value, { lineWidth: 0 }) : `${JSON.stringify(value, null, 2)}\n`);
  return 0;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
