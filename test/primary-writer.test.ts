// `serve --workers 2` on a SQLite file: the cluster primary commits every
// worker's writes (src/storage/sqlite/primary-writer.ts). What a client and an
// operator can see of it: rotations through either worker behave as on one
// process, and whatever was answered is in the file after a stop.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { childEnv, postJson, runCli, scratchDir, startChild, type ChildServer } from './security/support.js';

const PASSWORD = 'correct-horse-battery-1';
const ENV = { LATCHKEY_WORKERS: '2', LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_LOG_LEVEL: 'info' };

/** The processes whose parent is `pid`. */
const childrenOf = (pid: number) =>
  fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

/** Whether process `pid` has `file` open. */
const holds = (pid: number, file: string) =>
  fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
    } catch {
      return false; // closed meanwhile
    }
  });

describe('serve --workers 2 on SQLite: one writer, the primary', () => {
  let child: ChildServer | undefined;
  after(() => child?.stop());

  it('rotations through both workers chain and refuse reuse as on one process, and every answered write is in the file after SIGTERM', async () => {
    const dir = scratchDir();
    const made = await runCli(['createuser', '--username', 'ada', '--password', PASSWORD], childEnv(dir, ENV));
    assert.equal(made.code, 0, made.stderr);
    child = await startChild({ dir, env: ENV });
    for (let i = 0; i < 300 && !child.output().includes('latchkey is serving'); i++) await new Promise((ok) => setTimeout(ok, 50));
    assert.match(child.output(), /latchkey is serving/);

    // Each request on a fresh connection, so that they land on both workers in turn.
    const login = await postJson(`${child.url}/api/token/`, { username: 'ada', password: PASSWORD });
    assert.equal(login.status, 200, login.text);
    let refresh = login.json.refresh as string;
    const used: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await postJson(`${child.url}/api/token/refresh/`, { refresh });
      assert.equal(r.status, 200, r.text);
      used.push(refresh);
      refresh = r.json.refresh as string;
    }
    // Many refreshes of one token at once, over both workers: one rotation
    // wins; the others get its successor again (the reuse interval) or a 401.
    const race = await Promise.all(Array.from({ length: 16 }, () => postJson(`${child!.url}/api/token/refresh/`, { refresh })));
    const successors = new Set(race.filter((r) => r.status === 200).map((r) => r.json.refresh));
    assert.equal(successors.size, 1, race.map((r) => `${r.status} ${r.text}`).join('\n'));
    assert.ok(race.every((r) => r.status === 200 || r.status === 401));
    used.push(refresh);
    for (const old of used.slice(0, 4)) {
      const r = await postJson(`${child.url}/api/token/refresh/`, { refresh: old });
      assert.equal(r.status, 401, `a rotated token refreshed again: ${r.text}`);
    }
    // The primary holds the file open for writing; so does each worker, for its reads.
    const file = fs.realpathSync(path.join(dir, 'latchkey.sqlite3'));
    assert.ok(holds(child.proc.pid!, file), 'the primary has the database open');
    assert.equal(childrenOf(child.proc.pid!).length, 2);

    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.output());
    const db = new SQLite(file, { readonly: true });
    try {
      const rotated = db.prepare("SELECT count(*) AS n FROM blacklisted_tokens WHERE reason = 'rotated'").get() as { n: number };
      assert.equal(rotated.n, used.length, 'every rotation that was answered is committed');
    } finally {
      db.close();
    }
  });
});
