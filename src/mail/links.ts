// One-time links: a `uid` and a token, as Django's PasswordResetTokenGenerator
// makes them. The token is `<base36 timestamp>-<hmac>`: the timestamp counts
// seconds since 2001-01-01 (UTC), and the HMAC is Django's salted_hmac (SHA-256
// keyed with SHA-256(salt + secret)), hex, every other character kept.
//
// Each purpose has its own salt, so a token made for one purpose is refused for
// another, and covers the user's state that makes it single-use:
// - password_reset: id, password hash, last_login, email. Salt and value are
//   Django's own, so with the same secret a Django site's reset links verify here
//   (and the other way round). Setting a new password kills the link.
// - activation: the same fields. Activating does not change them, so a valid
//   token of a user who is already active is reported `stale` (djoser answers
//   such a link 403 "Stale token for given user.").
// - username_reset: the same fields and the username, so the link dies once the
//   username changes.
import crypto from 'node:crypto';
import { ConfigError } from '../errors.js';

export type LinkPurpose = 'activation' | 'password_reset' | 'username_reset';

export const LINK_PURPOSES: readonly LinkPurpose[] = ['activation', 'password_reset', 'username_reset'];

/** The user's state a token covers. `last_login` is in seconds since the epoch. */
export interface LinkUser {
  id: number;
  password: string;
  email: string;
  last_login: number | null;
  username: string;
  is_active: boolean;
}

export interface LinkTokenOptions {
  /** The server secret; the first one signs. Later ones (retired secrets) still verify. */
  secrets: readonly [string, ...string[]];
  /** How long a token lives, in seconds (LATCHKEY_PASSWORD_RESET_TIMEOUT). Default 3 days. */
  timeoutSeconds?: number;
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
}

/** Why a token was refused; `ok` when it holds. */
export type TokenCheck = 'ok' | 'invalid' | 'expired' | 'stale';

export const DEFAULT_LINK_TIMEOUT_SECONDS = 3 * 24 * 60 * 60;

const DJANGO_RESET_SALT = 'django.contrib.auth.tokens.PasswordResetTokenGenerator';
const SALTS: Record<LinkPurpose, string> = {
  password_reset: DJANGO_RESET_SALT,
  activation: 'latchkey.mail.links.activation',
  username_reset: 'latchkey.mail.links.username_reset',
};

/** 2001-01-01T00:00:00Z, the epoch of Django's token timestamps, in seconds. */
const EPOCH_2001 = Date.UTC(2001, 0, 1) / 1000;
/** Django refuses base36 timestamps longer than 13 digits. */
const MAX_B36_DIGITS = 13;

export class LinkTokens {
  readonly timeoutSeconds: number;
  private readonly keys: Record<LinkPurpose, Buffer[]>;
  private readonly now: () => number;

  constructor(opts: LinkTokenOptions) {
    if (!Array.isArray(opts.secrets) || opts.secrets.length === 0 || opts.secrets.some((s) => typeof s !== 'string' || s === '')) {
      throw new TypeError('LinkTokens: secrets must be one or more non-empty strings');
    }
    const timeout = opts.timeoutSeconds ?? DEFAULT_LINK_TIMEOUT_SECONDS;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new TypeError('LinkTokens: timeoutSeconds must be a positive integer');
    }
    this.timeoutSeconds = timeout;
    this.now = opts.now ?? Date.now;
    const derive = (salt: string) =>
      opts.secrets.map((secret) =>
        crypto
          .createHash('sha256')
          .update(salt + secret, 'utf8')
          .digest(),
      );
    this.keys = {
      activation: derive(SALTS.activation),
      password_reset: derive(SALTS.password_reset),
      username_reset: derive(SALTS.username_reset),
    };
  }

  /** A fresh token for the user's current state. */
  make(purpose: LinkPurpose, user: LinkUser): string {
    return this.tokenAt(this.keys[purpose][0]!, purpose, user, this.timestamp());
  }

  /**
   * Checks a token against the user's current state, in constant time for a
   * token of the right shape. Never throws on hostile input.
   */
  check(purpose: LinkPurpose, user: LinkUser, token: unknown): TokenCheck {
    if (typeof token !== 'string' || token.length > 100) return 'invalid';
    const dash = token.indexOf('-');
    if (dash <= 0 || dash !== token.lastIndexOf('-')) return 'invalid';
    const b36 = token.slice(0, dash);
    if (b36.length > MAX_B36_DIGITS || !/^[0-9a-z]+$/.test(b36)) return 'invalid';
    const ts = Number.parseInt(b36, 36);
    if (!Number.isSafeInteger(ts)) return 'invalid';
    const given = Buffer.from(token, 'utf8');
    let match = false;
    for (const key of this.keys[purpose]) {
      const expected = Buffer.from(this.tokenAt(key, purpose, user, ts), 'utf8');
      // Lengths differ only when the given token is malformed; comparing the
      // expected token with itself keeps the work the same.
      const same = crypto.timingSafeEqual(expected, given.length === expected.length ? given : expected);
      match = (same && given.length === expected.length) || match;
    }
    if (!match) return 'invalid';
    if (this.timestamp() - ts > this.timeoutSeconds) return 'expired';
    if (purpose === 'activation' && user.is_active) return 'stale';
    return 'ok';
  }

  private timestamp(): number {
    return Math.floor(this.now() / 1000 - EPOCH_2001);
  }

  private tokenAt(key: Buffer, purpose: LinkPurpose, user: LinkUser, ts: number): string {
    const hmac = crypto
      .createHmac('sha256', key)
      .update(hashValue(purpose, user, ts), 'utf8')
      .digest('hex');
    let half = '';
    for (let i = 0; i < hmac.length; i += 2) half += hmac[i];
    return `${ts.toString(36)}-${half}`;
  }
}

/** Django's `_make_hash_value`, plus the username for a username reset. */
function hashValue(purpose: LinkPurpose, user: LinkUser, ts: number): string {
  const login = user.last_login === null ? '' : djangoDateTime(user.last_login);
  const base = `${user.id}${user.password}${login}${ts}${user.email ?? ''}`;
  // A separator no username contains keeps `a` + `bc` apart from `ab` + `c`.
  return purpose === 'username_reset' ? `${base}\u0000${user.username}` : base;
}

/** Python's str() of a naive UTC datetime with microseconds dropped: `2024-05-06 07:08:09`. */
function djangoDateTime(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Django's urlsafe_base64_encode(force_bytes(pk)): base64url of the decimal id, no padding. */
export function encodeUid(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new TypeError('encodeUid: id must be a non-negative integer');
  return Buffer.from(String(id), 'ascii').toString('base64url');
}

/**
 * The user id a uid names, or undefined for anything that is not the
 * base64url (padded or not) of a decimal id within the safe integer range.
 * Never throws.
 */
export function decodeUid(uid: unknown): number | undefined {
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > 24) return undefined;
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(uid)) return undefined;
  const bare = uid.replace(/=+$/, '');
  if (bare.length % 4 === 1) return undefined;
  const text = Buffer.from(bare, 'base64url').toString('latin1');
  // The decimal string must survive the round trip, so no stray bits hide in the last character.
  if (!/^[0-9]{1,16}$/.test(text) || Buffer.from(text, 'latin1').toString('base64url') !== bare) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

export interface LinkContext {
  protocol: string;
  domain: string;
}

/**
 * Fills a link template (`#/activate/{uid}/{token}`) and makes the full link
 * `{protocol}://{domain}/{url}`, as djoser's mails do.
 */
export function buildLink(template: string, uid: string, token: string, ctx: LinkContext): { url: string; link: string } {
  const url = fillUrlTemplate(template, { uid, token });
  return { url, link: `${ctx.protocol}://${ctx.domain}/${url}` };
}

/** Replaces `{uid}` and `{token}`; any other `{name}` is refused. */
export function fillUrlTemplate(template: string, values: { uid: string; token: string }): string {
  return template.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    if (name === 'uid') return values.uid;
    if (name === 'token') return values.token;
    throw new TypeError(`link template ${JSON.stringify(template)}: unknown placeholder ${whole}`);
  });
}

/** Checks a link template at start: it must hold {uid} and {token} and nothing else in braces. */
export function validateUrlTemplate(name: string, template: string): void {
  if (!template.includes('{uid}') || !template.includes('{token}')) {
    throw new ConfigError(`${name}: must contain {uid} and {token}`);
  }
  try {
    fillUrlTemplate(template, { uid: 'x', token: 'x' });
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}
