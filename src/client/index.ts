// latchkey/client: a typed client for latchkey's presets, with fetch only, so
// it runs in Node 20+ and in browsers. Login, register, refresh and logout go
// to the chosen preset's paths; `client.fetch` adds the access token,
// refreshes it shortly before it expires, and on a 401 refreshes once and
// retries once. Concurrent callers share one in-flight refresh, which matters
// most on a rotating preset (auth-root), where two refreshes of one refresh
// token would revoke the whole login.
//
// No Node-only APIs here (no node:*, no Buffer): fetch, URL, Headers,
// Request, atob and TextDecoder only. The one package it imports is
// @latchkey/verify/wire, the wording and header rules every side shares,
// which imports nothing (a bundler resolves it; a page without one maps it
// with an import map, as test/browser-cookie-e2e.test.ts does).

import { LatchkeyError } from './errors.js';
import { jwtTimes } from './jwt.js';
import {
  CLIENT_PRESETS,
  type ClientPreset,
  type CustomPresetShape,
  type PresetName,
  type PresetShape,
  type PresetShapes,
} from './presets.js';
import { createMutex, memoryStorage, type TokenStorage, type Tokens } from './storage.js';
import { bearerHeader, MESSAGES } from '@latchkey/verify/wire';

export { LatchkeyError, isLatchkeyError } from './errors.js';
export type { DetailErrorBody, EnvelopeErrorBody, FieldErrorsBody, LatchkeyErrorBody } from './errors.js';
export { decodeJwtPayload } from './jwt.js';
export { CLIENT_PRESETS } from './presets.js';
export type {
  ApiAuthProfile,
  ApiAuthRegisterFields,
  ClientPreset,
  CustomPresetShape,
  PresetName,
  PresetShape,
  PresetShapes,
  UsernamePassword,
  UsersRegisterFields,
} from './presets.js';
export { createMutex, localStorageStorage, memoryStorage, webStorage } from './storage.js';
export type { TokenStorage, Tokens, WebStorageLike } from './storage.js';

/** The fetch the client calls: the global one by default. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Where latchkey serves, e.g. `https://auth.example.com` (a path prefix is kept). */
  baseUrl: string | URL;
  /** Where tokens live. Default: a fresh memoryStorage(). */
  storage?: TokenStorage;
  /** The fetch to use. Default: globalThis.fetch, looked up at call time. */
  fetch?: FetchLike;
  /** Refresh when the access token expires within this many seconds. Default 30. */
  refreshSkewSeconds?: number;
  /** The clock, in milliseconds since the epoch, as Date.now. */
  now?: () => number;
  /**
   * Origins besides baseUrl's to which client.fetch sends the access token
   * (e.g. your API servers that verify latchkey tokens). Requests to any other
   * origin go out untouched, so the token never leaks to third parties.
   */
  authorizedOrigins?: readonly (string | URL)[];
  /**
   * Measure the offset between this clock and the server's from each fresh
   * token's `iat`, so a wrong device clock neither refreshes on every request
   * nor sends expired tokens. Default true.
   */
  compensateClockSkew?: boolean;
  /**
   * The server keeps the refresh token in an HttpOnly cookie
   * (LATCHKEY_REFRESH_COOKIE): send latchkey's own requests with
   * `credentials: 'include'`, expect no `refresh` in answers, and refresh and
   * log out through the cookie. Stored pairs then hold `refresh: ''`. After a
   * page load, call `refresh()` to get an access token from the cookie.
   * Default false.
   */
  refreshCookie?: boolean;
}

export interface LatchkeyClient<S extends PresetShape = PresetShape> {
  /** The preset's paths and fields. */
  readonly preset: ClientPreset;
  /** Logs in and stores the token pair. Throws LatchkeyError on a refusal. */
  login(credentials: S['credentials']): Promise<void>;
  /**
   * Registers and stores the token pair (logging in afterwards on presets
   * whose register answers no tokens). Resolves to what the server said about
   * the new user, without the tokens.
   */
  register(fields: S['register']): Promise<S['registered']>;
  /** Refreshes now (joining a refresh already in flight) and resolves to the stored pair. */
  refresh(): Promise<Tokens>;
  /** Blacklists the refresh token where the preset has a route for it, and clears local tokens. */
  logout(): Promise<void>;
  /** fetch with `Authorization: Bearer <access>`; see the module comment. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** A current access token (refreshed if it is about to expire), or null when logged out. */
  getAccessToken(): Promise<string | null>;
  /** The stored pair as it is, without refreshing. */
  getTokens(): Promise<Tokens | null>;
  /** True when a pair is stored and its refresh token has not expired. */
  isAuthenticated(): Promise<boolean>;
}

export function createClient<P extends PresetName = 'simplejwt'>(options: ClientOptions & { preset?: P }): LatchkeyClient<PresetShapes[P]>;
export function createClient(options: ClientOptions & { preset: ClientPreset }): LatchkeyClient<CustomPresetShape>;
export function createClient(options: ClientOptions & { preset?: PresetName | ClientPreset }): LatchkeyClient<PresetShape> {
  const given = options.preset ?? 'simplejwt';
  if (typeof given === 'object') return new Client(given, options);
  const preset: ClientPreset | undefined = CLIENT_PRESETS[given];
  if (!preset) {
    throw new Error(`latchkey client: unknown preset "${String(given)}"; known presets are ${Object.keys(CLIENT_PRESETS).join(', ')}`);
  }
  return new Client(preset, options);
}

const ABSOLUTE = /^[a-z][a-z\d+.-]*:/i;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function pairOf(v: unknown, cookie = false): Tokens | null {
  if (!isRecord(v) || typeof v.access !== 'string') return null;
  if (typeof v.refresh === 'string') return { access: v.access, refresh: v.refresh };
  // With the refresh cookie, the refresh token never reaches JavaScript.
  return cookie ? { access: v.access, refresh: '' } : null;
}

function notAuthenticated(): LatchkeyError {
  return new LatchkeyError(401, { detail: MESSAGES.notAuthenticated, code: 'not_authenticated' });
}

class Client implements LatchkeyClient<PresetShape> {
  readonly preset: ClientPreset;
  private readonly base: string;
  private readonly origins: Set<string>;
  private readonly storage: TokenStorage;
  private readonly fetchImpl: FetchLike;
  private readonly skew: number;
  private readonly clock: () => number;
  private readonly compensate: boolean;
  /** Seconds to add to the local clock to get the server's, measured from fresh tokens. */
  private offset = 0;
  /** The refresh every concurrent caller shares. */
  private inflight: Promise<Tokens> | null = null;
  private readonly mutex = createMutex();
  /** The refresh token lives in an HttpOnly cookie the browser sends. */
  private readonly cookie: boolean;

  constructor(preset: ClientPreset, o: ClientOptions) {
    this.preset = preset;
    this.base = String(o.baseUrl).replace(/\/+$/, '');
    const origin = new URL(this.base).origin;
    this.origins = new Set([origin, ...(o.authorizedOrigins ?? []).map((u) => new URL(String(u)).origin)]);
    this.storage = o.storage ?? memoryStorage();
    this.fetchImpl = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.skew = o.refreshSkewSeconds ?? 30;
    this.clock = o.now ?? Date.now;
    this.compensate = o.compensateClockSkew ?? true;
    this.cookie = o.refreshCookie ?? false;
  }

  // ---- plumbing ----

  private url(path: string): string {
    if (ABSOLUTE.test(path)) return path;
    return this.base + (path.startsWith('/') ? path : `/${path}`);
  }

  /** The server's time as this client estimates it, in seconds. */
  private serverNow(): number {
    return this.clock() / 1000 + this.offset;
  }

  private noteFresh(t: Tokens): void {
    if (!this.compensate) return;
    const { iat } = jwtTimes(t.access);
    if (iat !== undefined) this.offset = iat - this.clock() / 1000;
  }

  /** True when the access token expires within the skew (capped at half its lifetime). */
  private expiring(access: string): boolean {
    const { exp, iat } = jwtTimes(access);
    if (exp === undefined) return false;
    const lifetime = iat !== undefined && exp > iat ? exp - iat : Infinity;
    return exp - this.serverNow() <= Math.min(this.skew, lifetime / 2);
  }

  private expired(token: string): boolean {
    const { exp } = jwtTimes(token);
    return exp !== undefined && exp <= this.serverNow();
  }

  /** Serializes token writes and refreshes within this client and, via the storage's lock, across clients. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const storage = this.storage;
    return this.mutex(() => (storage.lock ? storage.lock(fn) : fn()));
  }

  private async post(path: string, body: Record<string, unknown>): Promise<unknown> {
    const res = await this.fetchImpl(this.url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      ...(this.cookie ? { credentials: 'include' as const } : {}),
    });
    const text = await res.text();
    let json: unknown = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!res.ok) {
      throw new LatchkeyError(res.status, json, json === null ? text.slice(0, 200) || undefined : undefined);
    }
    if (json === null) throw new LatchkeyError(res.status, null, `Unexpected non-JSON answer from POST ${path}`);
    return json;
  }

  private async store(t: Tokens): Promise<void> {
    this.noteFresh(t);
    await this.locked(async () => {
      await this.storage.set(t);
    });
  }

  private loginBody(credentials: Record<string, unknown>): Record<string, unknown> {
    const { field, aliases = [] } = this.preset.login;
    const body: Record<string, unknown> = { ...credentials };
    let id = body[field];
    for (const alias of aliases) {
      if (id === undefined) id = body[alias];
      delete body[alias];
    }
    body[field] = id;
    return body;
  }

  // ---- refresh ----

  /**
   * The single-flight refresh. `stale` is the access token the caller found
   * wanting; if the stored one has changed meanwhile (another caller, tab or
   * client refreshed) and has not expired, that one is used instead. Without
   * `stale`, it always refreshes.
   */
  private refreshFor(stale?: string): Promise<Tokens> {
    if (this.inflight) return this.inflight;
    const p = this.locked(async () => {
      const current = await this.storage.get();
      // In cookie mode nothing need be stored: the cookie alone restores a session (after a reload).
      if (!current && !this.cookie) throw notAuthenticated();
      // Someone else refreshed since the caller looked: use theirs rather than refresh twice.
      if (current && stale !== undefined && current.access !== stale && !this.expired(current.access)) return current;
      let body: unknown;
      try {
        body = await this.post(this.preset.refresh.path, this.cookie ? {} : { [this.preset.refresh.field]: current!.refresh });
      } catch (e) {
        // The refresh token is dead (expired, blacklisted, revoked), or no cookie was sent (400): log in again.
        if (e instanceof LatchkeyError && (e.status === 401 || (this.cookie && e.status === 400))) {
          const now = await this.storage.get();
          if (now && (this.cookie || now.refresh === current?.refresh)) await this.storage.set(null);
          if (e.status === 400) throw notAuthenticated();
        }
        throw e;
      }
      if (!isRecord(body) || typeof body.access !== 'string') {
        throw new LatchkeyError(200, body, `Unexpected answer from POST ${this.preset.refresh.path}`);
      }
      // Rotating presets answer a new refresh token, which replaces the old one.
      const next: Tokens = {
        access: body.access,
        refresh: typeof body.refresh === 'string' && !this.cookie ? body.refresh : (current?.refresh ?? ''),
      };
      this.noteFresh(next);
      await this.storage.set(next);
      return next;
    });
    this.inflight = p;
    const clear = () => {
      if (this.inflight === p) this.inflight = null;
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * The stored pair, refreshed first if the access token is about to expire.
   * A refresh refused with 401 throws; any other failure falls back to the
   * stored access token while it has not actually expired.
   */
  private async current(): Promise<{ tokens: Tokens; refreshed: boolean } | null> {
    const t = await this.storage.get();
    if (!t) return null;
    if (!this.expiring(t.access)) return { tokens: t, refreshed: false };
    try {
      return { tokens: await this.refreshFor(t.access), refreshed: true };
    } catch (e) {
      if (e instanceof LatchkeyError && e.status === 401) throw e;
      if (!this.expired(t.access)) return { tokens: t, refreshed: false };
      throw e;
    }
  }

  // ---- public API ----

  async login(credentials: PresetShape['credentials']): Promise<void> {
    const body = await this.post(this.preset.login.path, this.loginBody(credentials));
    const pair = pairOf(body, this.cookie);
    if (!pair) throw new LatchkeyError(200, body, `Unexpected answer from POST ${this.preset.login.path}`);
    await this.store(pair);
  }

  async register(fields: PresetShape['register']): Promise<PresetShape['registered']> {
    const route = this.preset.register;
    if (!route) throw new Error(`latchkey client: preset "${this.preset.name}" has no register route`);
    const f = fields as Record<string, unknown>;
    const body = await this.post(route.path, f);
    if (route.returns === 'none') {
      const id = f[this.preset.login.field] ?? f.username;
      await this.login({ [this.preset.login.field]: id, password: f.password } as PresetShape['credentials']);
      return isRecord(body) ? body : {};
    }
    const holder = route.returns === 'content' && isRecord(body) ? body.content : body;
    const pair = route.returns === 'content' ? pairOf(isRecord(holder) ? holder.tokens : null, this.cookie) : pairOf(holder, this.cookie);
    if (!pair || !isRecord(holder)) {
      throw new LatchkeyError(201, body, `Unexpected answer from POST ${route.path}`);
    }
    await this.store(pair);
    const { tokens: _t, access: _a, refresh: _r, ...user } = holder;
    return user;
  }

  refresh(): Promise<Tokens> {
    return this.refreshFor();
  }

  async logout(): Promise<void> {
    // Under the lock, so no refresh is rotating the token we are about to blacklist.
    const t = await this.locked(async () => {
      const tokens = await this.storage.get();
      await this.storage.set(null);
      return tokens;
    });
    const route = this.preset.logout;
    // In cookie mode, log out on the server even with nothing stored here: it clears the cookie.
    if ((!t && !this.cookie) || !route) return;
    try {
      await this.post(route.path, this.cookie ? {} : { [route.field]: t!.refresh });
    } catch (e) {
      // Already invalid on the server: logged out all the same.
      if (e instanceof LatchkeyError && (e.status === 400 || e.status === 401)) return;
      throw e;
    }
  }

  async getAccessToken(): Promise<string | null> {
    return (await this.current())?.tokens.access ?? null;
  }

  async getTokens(): Promise<Tokens | null> {
    return await this.storage.get();
  }

  async isAuthenticated(): Promise<boolean> {
    const t = await this.storage.get();
    // In cookie mode the refresh token's life is unknown here: a stored pair is all that can be told.
    return t !== null && (this.cookie || !this.expired(t.refresh));
  }

  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const isRequest = typeof Request !== 'undefined' && input instanceof Request;
    const request = isRequest ? new Request(input, init) : null;
    const url = request ? request.url : this.url(String(input as string | URL));
    const headers = new Headers(request ? request.headers : init?.headers);
    let origin: string | null = null;
    try {
      origin = new URL(url).origin;
    } catch {
      origin = null;
    }
    // Another origin, or the caller chose its own Authorization: pass through.
    if (origin === null || !this.origins.has(origin) || headers.has('authorization')) {
      return request ? this.fetchImpl(request) : this.fetchImpl(url, init);
    }

    const state = await this.current();
    if (!state) return request ? this.fetchImpl(request) : this.fetchImpl(url, init);

    // A streamed body is read once; keep a copy for the retry.
    let first: BodyInit | null | undefined = init?.body;
    let spare: ReadableStream | undefined;
    if (!request && typeof ReadableStream !== 'undefined' && init?.body instanceof ReadableStream) {
      [first, spare] = init.body.tee();
    }
    const send = (access: string, retry: boolean): Promise<Response> => {
      const h = new Headers(headers);
      h.set('authorization', bearerHeader(access));
      if (request) return this.fetchImpl(new Request(retry ? request : request.clone(), { headers: h }));
      return this.fetchImpl(url, { ...init, headers: h, body: retry ? (spare ?? init?.body) : first });
    };
    const discardSpare = () => {
      if (spare) void spare.cancel().catch(() => undefined);
    };

    const res = await send(state.tokens.access, false);
    // One refresh per call: not again if this call just refreshed.
    if (res.status !== 401 || state.refreshed) {
      discardSpare();
      return res;
    }
    await res.body?.cancel().catch(() => undefined);
    let next: Tokens;
    try {
      next = await this.refreshFor(state.tokens.access);
    } catch (e) {
      discardSpare();
      throw e;
    }
    return send(next.access, true);
  }
}
