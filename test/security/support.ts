// Shared tools for the attack suite: hand-forged JWTs (node:crypto only, so no
// test trusts the library under test to build its attacks), DRF body checks,
// and a real `latchkey serve` child process for the attacks that need a socket
// or a process (slowloris, kill -9, SIGTERM, X-Forwarded-For over TCP).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_KEY, tempDir } from '../helpers.js';

/** The repository root (dist/test/security/ is three levels below it). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(ROOT, 'dist/src/cli.js');

const scratch = new Set<string>();
process.on('exit', () => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

/** A temporary data dir, removed when the test process exits. */
export function scratchDir(prefix = 'latchkey-sec-'): string {
  const dir = tempDir(prefix);
  scratch.add(dir);
  return dir;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/**
 * A JWT built by hand. `payload` may be any JSON value (or a raw string with
 * `rawPayload`), and the signature is HMAC with `alg`'s hash unless `signature`
 * is given.
 */
export function forge(opts: {
  header?: Record<string, unknown>;
  payload: unknown;
  rawPayload?: boolean;
  key?: string | Buffer;
  /** Which HMAC computes the signature; defaults to the header's alg, else HS256. */
  hmac?: 'HS256' | 'HS384' | 'HS512';
  signature?: string;
}): string {
  const header = opts.header ?? { alg: 'HS256', typ: 'JWT' };
  const h = b64(JSON.stringify(header));
  const p = b64(opts.rawPayload ? (opts.payload as string) : JSON.stringify(opts.payload));
  const input = `${h}.${p}`;
  if (opts.signature !== undefined) return `${input}.${opts.signature}`;
  const alg = opts.hmac ?? (['HS256', 'HS384', 'HS512'].includes(String(header.alg)) ? (header.alg as string) : 'HS256');
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg as 'HS256']!;
  const sig = createHmac(hash, opts.key ?? TEST_KEY)
    .update(input)
    .digest('base64url');
  return `${input}.${sig}`;
}

/** Valid SimpleJWT claims for `userId`, with overrides; `undefined` deletes a claim. */
export function claims(
  userId: unknown,
  type: 'access' | 'refresh' = 'access',
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = nowSeconds();
  const c: Record<string, unknown> = {
    token_type: type,
    exp: now + 300,
    iat: now,
    jti: Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32),
    user_id: userId,
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete c[k];
    else c[k] = v;
  }
  return c;
}

/** A JSON body DRF could have written: `{"detail": "..."}` (maybe with code/messages) or field errors. */
export function assertDrfBody(body: unknown, context = ''): void {
  assert.ok(
    body !== null && typeof body === 'object' && !Array.isArray(body),
    `${context}: body is not a JSON object: ${JSON.stringify(body)}`,
  );
  const o = body as Record<string, unknown>;
  if ('detail' in o) {
    assert.equal(typeof o.detail, 'string', `${context}: detail is not a string: ${JSON.stringify(body)}`);
    return;
  }
  const entries = Object.entries(o);
  assert.ok(entries.length > 0, `${context}: empty error body`);
  for (const [field, messages] of entries) {
    assert.ok(
      Array.isArray(messages) && messages.length > 0 && messages.every((m) => typeof m === 'string'),
      `${context}: field ${field} is not a list of messages: ${JSON.stringify(body)}`,
    );
  }
}

/** Parses a response body as JSON, failing the test with the raw text if it is not. */
export function jsonOf(text: string, context = ''): unknown {
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`${context}: body is not JSON: ${JSON.stringify(text.slice(0, 300))}`);
  }
}

export const THROTTLED = /^Request was throttled\. Expected available in (\d+) seconds?\.$/;

/** Asserts a DRF throttled answer: 429, Retry-After, and the detail naming the same wait. */
export function assertThrottled(res: { statusCode: number; headers: Record<string, unknown>; body: string }, context = ''): number {
  assert.equal(res.statusCode, 429, `${context}: expected 429, got ${res.statusCode} ${res.body}`);
  const body = jsonOf(res.body, context) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['detail'], `${context}: throttled body has other keys: ${res.body}`);
  const m = THROTTLED.exec(String(body.detail));
  assert.ok(m, `${context}: not DRF's throttled message: ${res.body}`);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1,
    `${context}: Retry-After missing or bad: ${String(res.headers['retry-after'])}`,
  );
  assert.equal(Number(m[1]), retryAfter, `${context}: detail and Retry-After disagree`);
  return retryAfter;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Environment for a child latchkey on `dir`: its own SQLite file, the test key, quiet logs. */
export function childEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LATCHKEY_')) delete env[k];
  return {
    ...env,
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_SIGNING_KEY: TEST_KEY,
    LATCHKEY_LOG_LEVEL: 'warn',
    LATCHKEY_LOGIN_THROTTLE: 'off',
    ...extra,
  };
}

/** Runs one CLI command to completion. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

export interface ChildServer {
  port: number;
  url: string;
  proc: ChildProcess;
  dir: string;
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, and wait for the process to be gone. */
  kill9(): Promise<void>;
  /** Stops it if it is still running (for `after`). */
  stop(): Promise<void>;
}

/**
 * Starts `latchkey serve --port <free port>` on `dir` and waits until it answers
 * HTTP. The 60 s limit only guards against a server that never starts: on a
 * loaded machine (two cores shared by many runs) a start has taken 12-15 s.
 */
export async function startChild(opts: { dir?: string; env?: Record<string, string> } = {}): Promise<ChildServer> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing; run tsc first`);
  const dir = opts.dir ?? scratchDir();
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    env: childEnv(dir, opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) throw new Error(`latchkey serve exited before listening:\n${out}`);
    try {
      await fetch(`${url}/api/protected-endpoint/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`latchkey serve did not start within 60 s:\n${out}`);
      }
      await sleep(50);
    }
  }
  return {
    port,
    url,
    proc,
    dir,
    output: () => out,
    exited,
    async kill9() {
      if (!gone) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!gone) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * POSTs JSON to a child server over a real socket, on a fresh connection that
 * is closed after the answer (no keep-alive lingering into a shutdown).
 */
export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown>; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), connection: 'close', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('error', reject);
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            /* leave empty; callers check text */
          }
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode ?? 0, headers: h, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Writes raw bytes to a server and collects what comes back until the server
 * closes the connection (or `timeoutMs` passes).
 */
export function rawExchange(
  port: number,
  chunks: string | Buffer,
  timeoutMs = 5000,
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.on('connect', () => sock.write(chunks));
  });
}

/** Splits a raw HTTP/1.1 response into status, headers and body. */
export function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? '' : text.slice(end + 4);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body };
}
