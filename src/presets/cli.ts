// `latchkey presets schema`, `presets show NAME|FILE` and `presets check FILE`:
// the preset file format's JSON Schema, a preset's route table, and a file
// validated without starting the server. Each loads what it needs when it runs.
import type { Command } from 'commander';

export interface PresetCliOptions {
  /** Where output goes; default console.log. */
  out?: ((line: string) => void | Promise<void>) | undefined;
}

/**
 * Writes a line to stdout and waits until it is handed to the OS: the CLI
 * exits right after a command, and a pipe would lose what console.log had
 * not flushed yet (the schema is longer than a pipe's buffer).
 */
const stdoutLine = (line: string) =>
  new Promise<void>((resolve, reject) => process.stdout.write(`${line}\n`, (err) => (err ? reject(err) : resolve())));

export function registerPresetCommands(program: Command, opts: PresetCliOptions = {}): Command {
  const out = opts.out ?? stdoutLine;
  const presets = program
    .command('presets')
    .description('the presets: the format of preset files (your own backend), and what a preset serves');

  presets
    .command('schema')
    .description('print the JSON Schema of preset files')
    .action(async () => {
      const { presetJsonSchema } = await import('./schema.js');
      await out(JSON.stringify(presetJsonSchema(), null, 2));
    });

  presets
    .command('show')
    .description('print the routes of a built-in preset or a preset file: method, path, operation, protected, summary')
    .argument('<preset>', 'a built-in preset name, or a preset file (.json, .yaml, .yml)')
    .option('--json', 'print the preset as loaded (prefix applied), as JSON', false)
    .action(async (name: string, o: { json: boolean }) => {
      const [{ selectPresets }, { OPERATIONS }, { table, yesNo, json }] = await Promise.all([
        import('./index.js'),
        import('../http/operations/index.js'),
        import('../cli-format.js'),
      ]);
      const [preset] = selectPresets([name]);
      if (o.json) return out(json(preset));
      const p = preset!;
      await out(
        `preset ${p.id} (${p.document}): envelope ${p.envelope}, rotate ${yesNo(p.rotate)}, ` +
          `Authorization ${(p.authHeaderTypes ?? ['Bearer']).join(' | ')}${p.prefix ? `, prefix ${p.prefix}` : ''}`,
      );
      return out(
        table(
          ['method', 'path', 'op', 'protected', 'summary'],
          p.routes.map((r) => {
            const def = OPERATIONS[r.op] as { protected: boolean | ((r: unknown) => boolean) };
            const prot = typeof def.protected === 'function' ? def.protected(r) : def.protected;
            return [r.method, r.url, r.op, yesNo(prot), r.summary];
          }),
        ),
      );
    });

  presets
    .command('check')
    .description('validate a preset file without starting the server: "ok", or the file, the JSON path and the reason')
    .argument('<file>', 'the preset file (.json, .yaml, .yml)')
    .action(async (file: string) => {
      const { readPresetFile } = await import('./files.js');
      readPresetFile(file);
      await out('ok');
    });
  return presets;
}
