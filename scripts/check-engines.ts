// npm run check:engines: every package in the lockfile (package-lock.json,
// packages[*].engines) must accept the Node versions latchkey claims, or npm
// warns EBADENGINE on them. Two claims are checked:
//   - the packages a user installs (not dev) against the lowest version
//     package.json's `engines.node` admits (">=20": Node 20.0.0);
//   - every package, dev tools included, against the lowest version
//     `devEngines.runtime.version` admits, the Node a contributor needs.
// Prints each package that does not, and exits 1 if there is one.
//
//   node dist/scripts/check-engines.js [path/to/package-lock.json]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';

export interface LockEntry {
  version?: string;
  dev?: boolean;
  engines?: unknown;
}

export interface Lockfile {
  packages: Record<string, LockEntry>;
}

export interface EngineTargets {
  /** The Node every package a user installs must accept. */
  production: string;
  /** The Node every package, dev tools included, must accept. */
  development: string;
}

/** The engines.node range of a lockfile entry, if it has one (an old array form of engines has none). */
function nodeRange(entry: LockEntry): string | undefined {
  const engines = entry.engines;
  if (engines === null || typeof engines !== 'object' || Array.isArray(engines)) return undefined;
  const node = (engines as Record<string, unknown>).node;
  return typeof node === 'string' ? node : undefined;
}

/** One line per lockfile entry whose engines.node the target Node does not satisfy. */
export function engineProblems(lock: Lockfile, targets: EngineTargets): string[] {
  const problems: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    const range = nodeRange(entry);
    if (range === undefined) continue;
    const target = entry.dev ? targets.development : targets.production;
    if (!semver.satisfies(target, range)) {
      const name = where === '' ? '(the root package)' : `${where.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'}`;
      problems.push(`${name} (${where || 'package.json'}) requires node ${range}; Node ${target} does not satisfy it`);
    }
  }
  return problems;
}

/** The lowest version a range admits, or a clear error. */
function lowest(range: string | undefined, what: string): string {
  const v = range === undefined ? null : semver.minVersion(range);
  if (v === null) throw new Error(`${what} is not a usable version range: ${String(range)}`);
  return v.version;
}

/** The targets package.json declares: engines.node, and devEngines.runtime.version (engines.node if absent). */
export function targetsOf(pkg: {
  engines?: { node?: string };
  devEngines?: { runtime?: { name?: string; version?: string } };
}): EngineTargets {
  const production = lowest(pkg.engines?.node, 'package.json engines.node');
  const runtime = pkg.devEngines?.runtime;
  const development =
    runtime?.name === 'node' && runtime.version ? lowest(runtime.version, 'package.json devEngines.runtime.version') : production;
  return { production, development };
}

function main(argv: string[]): number {
  const lockPath = path.resolve(argv[0] ?? 'package-lock.json');
  const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as Lockfile;
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(lockPath), 'package.json'), 'utf8')) as Parameters<typeof targetsOf>[0];
  const targets = targetsOf(pkg);
  const problems = engineProblems(lock, targets);
  const count = Object.keys(lock.packages).length;
  if (problems.length > 0) {
    console.error(`check:engines: ${problems.length} of ${count} packages would warn EBADENGINE:`);
    for (const p of problems) console.error(`  ${p}`);
    console.error('Pin a release that accepts these Node versions (package.json "overrides"), or replace the package.');
    return 1;
  }
  console.log(`check:engines: all ${count} packages accept Node ${targets.production} (dev tools: Node ${targets.development})`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
