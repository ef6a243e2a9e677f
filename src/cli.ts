#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=25 --v8-pool-size=2
// The latchkey command line: serve, migrate, createuser, changepassword,
// users list|show|activate|deactivate|delete, sessions list|revoke,
// flushexpiredtokens, import-django, mail list|retry, presets schema|show|check. Every command exits non-zero with a
// one-line reason on bad input. Listings print a plain table, or JSON with --json.
// Each command loads its modules when it runs (await import() in its action),
// so `--help`, `--version` and the commands that need no database (keys list)
// do not load the server, the storage drivers or the mailer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, type Option } from 'commander';
import type { Config, SettingName, SettingOverrides } from './config.js';
import { ApiError, ConfigError } from './errors.js';
import type { createService } from './latchkey.js';
import { cut, json, table, yesNo } from './cli-format.js';
import { registerMailCommands } from './mail/cli.js';
import { registerPresetCommands } from './presets/cli.js';
import type { SessionRecord, UserRecord } from './storage/types.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** A failure the user caused: printed as one line, exit status 1. */
class UsageError extends Error {}

function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.fields) {
      return Object.entries(err.fields)
        .map(([f, m]) => `${f}: ${m.join(' ')}`)
        .join('; ');
    }
    return err.message;
  }
  if (err instanceof ConfigError || err instanceof UsageError) return err.message;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}

async function config(overrides: SettingOverrides = {}): Promise<Config> {
  const { loadConfig } = await import('./config.js');
  return loadConfig(process.env, overrides);
}

type ServiceContext = Awaited<ReturnType<typeof createService>>;

/** Runs a command against the service, closing storage afterwards. */
async function withService<T>(fn: (s: ServiceContext) => Promise<T>): Promise<T> {
  const [{ createService }, cfg] = await Promise.all([import('./latchkey.js'), config()]);
  const ctx = await createService(cfg);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

async function findUser(ctx: ServiceContext, username: string): Promise<UserRecord> {
  const { normalizeUsername } = await import('./validation.js');
  const user = await ctx.storage.getUserByUsername(normalizeUsername(username));
  if (!user) throw new UsageError(`no user named "${username}"`);
  return user;
}

function readPasswordFromStdin(): string {
  if (process.stdin.isTTY) throw new UsageError('give the password with --password, or pipe it on standard input');
  const text = readFileSync(0, 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new UsageError('no password on standard input');
  return line;
}

/**
 * Options that override a setting are checked by the setting's own schema
 * (config.ts) once the command runs, so that parsing the command line does not
 * load config.ts; a bad value gets Commander's own one-line answer.
 */
async function checkOverrides(cmd: Command, settings: Partial<Record<string, SettingName>>): Promise<void> {
  const { settingError } = await import('./config.js');
  for (const option of cmd.options as readonly Option[]) {
    const key = option.attributeName();
    const name = settings[key];
    const value: unknown = cmd.getOptionValue(key);
    if (name === undefined || typeof value !== 'string') continue;
    const error = settingError(name, value);
    if (error !== undefined) {
      cmd.error(`error: option '${option.flags}' argument '${value}' is invalid. ${error}`, {
        code: 'commander.invalidArgument',
        exitCode: 1,
      });
    }
  }
}

const positiveId = (v: string) => {
  if (!/^[1-9][0-9]{0,14}$/.test(v)) throw new InvalidArgumentError('must be a positive whole number');
  return Number(v);
};

export function buildProgram(): Command {
  const program = new Command('latchkey')
    .description('A self-hosted JWT authentication server, wire-compatible with DRF + SimpleJWT clients')
    .version(pkg.version)
    .exitOverride();

  program
    .command('serve')
    .description('serve the API (HOST, PORT and LATCHKEY_* variables configure it)')
    .option('--host <host>', 'address to listen on (overrides HOST)')
    .option('--port <port>', 'port to listen on (overrides PORT)')
    .option('--workers <n>', 'processes sharing the port (overrides LATCHKEY_WORKERS; default: the cores it may use)')
    .action(async (opts: { host?: string; port?: string; workers?: string }, cmd: Command) => {
      await checkOverrides(cmd, { host: 'HOST', port: 'PORT', workers: 'LATCHKEY_WORKERS' });
      const cfg = await config({ HOST: opts.host, PORT: opts.port, LATCHKEY_WORKERS: opts.workers });
      const [{ default: cluster }, { serveProcess, servePrimary }] = await Promise.all([import('node:cluster'), import('./serve.js')]);
      const workers = cfg.workers;
      if (cluster.isPrimary && workers > 1) await servePrimary(cfg, workers);
      else await serveProcess(cfg);
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      await withService(async () => {});
      console.log('migrations applied');
    });

  program
    .command('createuser')
    .description("create a user (no password validators run, as with Django's createsuperuser --noinput)")
    .requiredOption('--username <username>', 'the username')
    .option('--password <password>', 'the password (read from standard input when omitted)')
    .option('--email <email>', 'email address')
    .option('--phone-number <phone>', 'phone number in E.164 format, such as +919876543210')
    .option('--staff', 'mark the user as staff', false)
    .action(async (opts: { username: string; password?: string; email?: string; phoneNumber?: string; staff: boolean }) => {
      const password = opts.password ?? readPasswordFromStdin();
      const user = await withService(({ service }) =>
        service.register(
          { username: opts.username, password, email: opts.email, phone_number: opts.phoneNumber },
          { passwordPolicy: false, staff: opts.staff },
        ),
      );
      console.log(`created user "${user.username}" with id ${user.id}`);
    });

  program
    .command('changepassword')
    .description("set a user's password and revoke every token issued before it")
    .argument('<username>', 'the user')
    .option('--password <password>', 'the new password (read from standard input when omitted)')
    .action(async (username: string, opts: { password?: string }) => {
      const password = opts.password ?? readPasswordFromStdin();
      await withService(async (ctx) => ctx.service.setPassword(await findUser(ctx, username), password));
      console.log(`password changed for "${username}"; earlier sessions are revoked`);
    });

  const usersCmd = program.command('users').description('manage users');
  usersCmd
    .command('list')
    .description('list every user')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (opts: { json: boolean }) => {
      const { isoTime, profileOf } = await import('./service/views.js');
      const users = await withService(({ storage }) => storage.listUsers());
      if (opts.json) return console.log(json(users.map(profileOf)));
      if (users.length === 0) return console.log('no users');
      console.log(
        table(
          ['id', 'username', 'email', 'active', 'staff', 'date_joined', 'last_login'],
          users.map((u) => [
            String(u.id),
            u.username,
            u.email,
            yesNo(u.is_active),
            yesNo(u.is_staff),
            isoTime(u.date_joined),
            u.last_login === null ? '-' : isoTime(u.last_login),
          ]),
        ),
      );
    });

  usersCmd
    .command('show')
    .description("show one user's profile and how many live sessions they have")
    .argument('<username>', 'the user')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (username: string, opts: { json: boolean }) => {
      const { user, sessions } = await withService(async (ctx) => {
        const user = await findUser(ctx, username);
        return { user, sessions: (await ctx.service.sessions(user.id)).length };
      });
      const { profileOf } = await import('./service/views.js');
      const profile = profileOf(user);
      if (opts.json) return console.log(json({ ...profile, sessions }));
      const rows = Object.entries({ ...profile, sessions }).map(([k, v]) => [
        k,
        v === null ? '-' : typeof v === 'boolean' ? yesNo(v) : String(v),
      ]);
      console.log(table(['field', 'value'], rows));
    });

  usersCmd
    .command('delete')
    .description('delete a user and revoke their sessions (needs --yes)')
    .argument('<username>', 'the user')
    .option('--yes', 'really delete', false)
    .action(async (username: string, opts: { yes: boolean }) => {
      if (!opts.yes) {
        throw new UsageError(`refusing to delete user "${username}" without --yes (it cannot be undone)`);
      }
      await withService(async (ctx) => ctx.service.deleteUser((await findUser(ctx, username)).id));
      console.log(`user "${username}" deleted; their sessions are revoked`);
    });

  for (const [name, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    usersCmd
      .command(name)
      .description(active ? 'let a user log in again' : 'stop a user logging in and revoke their sessions')
      .argument('<username>', 'the user')
      .action(async (username: string) => {
        await withService(async (ctx) => ctx.service.setActive((await findUser(ctx, username)).id, active));
        console.log(`user "${username}" ${active ? 'activated' : 'deactivated'}`);
      });
  }

  const sessionsCmd = program.command('sessions').description('manage sessions (one per login, however often it refreshes)');
  sessionsCmd
    .command('list')
    .description('list live sessions, the most recently used first')
    .option('--user <username>', "only this user's sessions")
    .option('--json', 'print JSON instead of a table', false)
    .action(async (opts: { user?: string; json: boolean }) => {
      const { sessionOf } = await import('./service/views.js');
      const rows = await withService(async (ctx) => {
        const only = opts.user === undefined ? undefined : await findUser(ctx, opts.user);
        const sessions = await ctx.storage.listSessions({ userId: only?.id }, ctx.service.now());
        const names = new Map<number, string>();
        for (const id of new Set(sessions.map((s) => s.userId))) {
          if (id === null) continue;
          const u = only?.id === id ? only : await ctx.storage.getUserById(id);
          if (u) names.set(id, u.username);
        }
        return sessions.map((s: SessionRecord) => ({
          ...sessionOf(s),
          user_id: s.userId,
          username: s.userId === null ? null : (names.get(s.userId) ?? null),
        }));
      });
      if (opts.json) return console.log(json(rows));
      if (rows.length === 0) return console.log('no live sessions');
      console.log(
        table(
          ['id', 'user', 'created_at', 'last_used_at', 'ip_address', 'user_agent'],
          rows.map((r) => [
            String(r.id),
            r.username ?? `#${r.user_id ?? '-'}`,
            r.created_at,
            r.last_used_at,
            r.ip_address || '-',
            cut(r.user_agent, 60) || '-',
          ]),
        ),
      );
    });

  sessionsCmd
    .command('revoke')
    .description('end a session: every refresh token of it is blacklisted (its access tokens expire within minutes)')
    .argument('<id>', 'the session id, as `sessions list` shows it', positiveId)
    .action(async (id: number) => {
      await withService(async ({ service }) => {
        try {
          await service.revokeSession(id);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'not_found') throw new UsageError(`no live session with id ${id}`);
          throw err;
        }
      });
      console.log(`session ${id} revoked`);
    });

  const keysCmd = program.command('keys').description('manage signing keys (EdDSA, ES256, RS256)');
  keysCmd
    .command('rotate')
    .description(
      'publish a new key pair now and sign with it after LATCHKEY_KEY_PUBLISH_AHEAD seconds; ' +
        'the old one stays published until its tokens expire',
    )
    .option('--now', 'emergency: sign with the new key at once (verifiers may refuse new tokens until they refetch the JWKS)', false)
    .action(async (opts: { now: boolean }) => {
      const [cfg, { KEYRING_FILE, keyRetention, keyStates, readRing, rotateRing }, { isoTime }] = await Promise.all([
        config(),
        import('./keys.js'),
        import('./service/views.js'),
      ]);
      (await import('./key-files.js')).refuseReadOnlyKeys(cfg);
      const now = Math.floor(Date.now() / 1000);
      const file = path.join(cfg.dataDir, KEYRING_FILE);
      const waiting = keyStates(readRing(file) ?? [], now).filter((k) => k.state === 'next');
      const ring = rotateRing({
        dataDir: cfg.dataDir,
        algorithm: cfg.algorithm,
        retention: keyRetention(cfg),
        now,
        publishAhead: opts.now ? 0 : cfg.keyPublishAhead,
      });
      const states = keyStates(ring, now);
      const added = states.at(-1)!;
      for (const w of waiting) console.log(`replaced key ${w.key.kid}, which was waiting to sign`);
      if (added.state === 'active') {
        console.log(`now signing with ${added.key.alg} key ${added.key.kid}; ${ring.length - 1} older key(s) still published`);
        if (ring.length > 1) {
          console.error(
            'latchkey: warning: the new key signs at once; a verifier that has not fetched the JWKS since may refuse ' +
              'new tokens until it refetches the JWKS (latchkey/verify does on an unknown kid, at most once per 10 s)',
          );
        }
      } else {
        const active = states.find((k) => k.state === 'active')!;
        console.log(
          `published ${added.key.alg} key ${added.key.kid}; it signs from ${isoTime(added.activatesAt)} ` +
            `(in ${added.activatesAt - now} s); until then ${active.key.kid} signs; ` +
            `${ring.length - 1} older key(s) still published`,
        );
      }
    });

  keysCmd
    .command('list')
    .description('list the key pairs in the data dir: state (next, active, retired), activation and retirement times')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (opts: { json: boolean }) => {
      const [cfg, { isHmac, KEYRING_FILE, keyRetention, keyStates, readRing }, { isoTime }] = await Promise.all([
        config(),
        import('./keys.js'),
        import('./service/views.js'),
      ]);
      const { keyFileRing } = await import('./key-files.js');
      const now = Math.floor(Date.now() / 1000);
      const ring = keyFileRing(cfg) ?? readRing(path.join(cfg.dataDir, KEYRING_FILE));
      const retention = keyRetention(cfg);
      const rows = keyStates(ring ?? [], now).map((k) => ({
        kid: k.key.kid,
        algorithm: k.key.alg,
        state: k.state,
        activates_at: isoTime(k.activatesAt),
        retired_at: k.retiredAt === null ? null : isoTime(k.retiredAt),
        published_until: k.retiredAt === null ? null : isoTime(k.retiredAt + retention),
      }));
      if (opts.json) return console.log(json(rows));
      if (rows.length === 0) {
        return console.log(isHmac(cfg.algorithm) ? `no key pairs: ${cfg.algorithm} signs with a shared secret` : 'no key pairs yet');
      }
      console.log(
        table(
          ['kid', 'algorithm', 'state', 'activates_at', 'retired_at', 'published_until'],
          rows.map((r) => [r.kid, r.algorithm, r.state, r.activates_at, r.retired_at ?? '-', r.published_until ?? '-']),
        ),
      );
    });

  program
    .command('flushexpiredtokens')
    .description('delete outstanding and blacklisted token records that have expired')
    .action(async () => {
      const n = await withService(({ service }) => service.flushExpired());
      console.log(`deleted ${n} expired token record${n === 1 ? '' : 's'}`);
    });

  // `mail list` and `mail retry`: a running server's sender picks a retried mail up at its next poll.
  registerMailCommands(program, { withOutbox: (fn) => withService(({ storage }) => fn(storage.outbox)) });
  registerPresetCommands(program);

  program
    .command('import-django')
    .description("import Django's auth_user (ids, usernames, emails, names, flags, dates, password hashes); safe to re-run")
    .requiredOption('--from <url>', 'the Django database: sqlite:PATH or postgres://...')
    .action(async (opts: { from: string }) => {
      const { importDjango } = await import('./import-django.js');
      const r = await withService(({ service, storage }) =>
        importDjango({
          from: opts.from,
          storage,
          now: service.now(),
          onSkip: (s) => console.error(`latchkey: skipped user ${s.id} "${s.username}": ${s.reason}`),
        }),
      );
      console.log(`imported from Django: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.skipped} skipped`);
      if (r.unsupportedHashes > 0) {
        console.error(
          `latchkey: ${r.unsupportedHashes} imported user${r.unsupportedHashes === 1 ? ' has a password hash' : 's have password hashes'} ` +
            'latchkey cannot verify (Django legacy hashers); they must reset their passwords',
        );
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its one line (or the help/version text).
      return err.exitCode;
    }
    console.error(`latchkey: ${describe(err)}`);
    return 1;
  }
}

process.on('unhandledRejection', (reason) => {
  console.error(`latchkey: unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}`);
  process.exit(70);
});

const code = await main(process.argv);
// `serve` keeps running; every other command exits with its status.
if (code !== 0 || process.argv[2] !== 'serve') process.exit(code);
