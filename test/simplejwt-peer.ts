// The real SimpleJWT 5.2.2 peer (Debian's packages, test/peer/simplejwt_peer.py),
// for the suites that run latchkey's tokens through it: whether it is
// installed, and one run of a Python script against a fresh peer database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const PEER_DIR = fileURLToPath(new URL('../../test/peer/', import.meta.url));

/** Why the peer cannot run here, or false when it can. */
export function peerMissing(): string | false {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import rest_framework_simplejwt'], { encoding: 'utf8' });
  if (r.status !== 0) {
    return 'SimpleJWT is not installed for /usr/bin/python3 (apt-get install python3-django python3-djangorestframework python3-djangorestframework-simplejwt)';
  }
  return false;
}

/**
 * Runs `script` (which imports simplejwt_peer from argv[1]) on a fresh peer
 * database with `input` as JSON on stdin and `env` (REF_SIGNING_KEY and any
 * REF_ setting); answers its stdout as JSON. The database is removed after.
 */
export function runPeerScript<T>(script: string, input: unknown, env: Record<string, string>): T {
  const dir = tempDir('latchkey-peer-');
  try {
    const r = spawnSync(PYTHON, ['-c', script, PEER_DIR], {
      input: JSON.stringify(input),
      encoding: 'utf8',
      env: { ...process.env, ...env, REF_DB: path.join(dir, 'peer.sqlite3'), PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `the peer script failed:\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
