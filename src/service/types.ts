// The service's vocabulary: what its operations take and give, with no HTTP in it.
import type { Mailer } from '../mail/index.js';
import type { Throttle } from '../throttle.js';
import type { ClaimField } from '../users/claims.js';
import type { UserView } from '../users/fields.js';

export interface TokenPair {
  refresh: string;
  access: string;
}

/** The user fields a login may name its user by. */
export const LOGIN_KEYS = ['username', 'email', 'phone_number'] as const;
export type LoginKey = (typeof LOGIN_KEYS)[number];

/**
 * How a login finds its user: by one field, or by several tried in order
 * (`['username', 'email']`, a "login by username or email" backend). `phone`
 * is `phone_number`; `username_or_phone` is `['phone_number', 'username']`.
 */
export type Lookup = LoginKey | 'phone' | 'username_or_phone' | readonly LoginKey[];

export interface ProfileInput {
  email?: string | undefined;
  phone_number?: string | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  address?: string | undefined;
  postal_code?: string | undefined;
  birthdate?: string | undefined;
}

/** What a user may change of their own profile; null clears a nullable field. */
export interface ProfilePatch {
  email?: string | undefined;
  phone_number?: string | null | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  address?: string | undefined;
  postal_code?: string | undefined;
  birthdate?: string | null | undefined;
  profile_image?: string | null | undefined;
}

/**
 * A user as the account endpoints and the CLI show it: SPEC §4's fields, the
 * times in ISO 8601 as DRF's DateTimeField writes them, and never the password.
 */
export type Profile = UserView;

/** A session as it is shown: its opaque id and its client, never a token or a jti. */
export interface SessionView {
  id: number;
  created_at: string;
  last_used_at: string;
  user_agent: string;
  ip_address: string;
}

export interface RegisterInput extends ProfileInput {
  username: string;
  password: string;
}

export interface RegisterOptions {
  requirePhone?: boolean;
  /** Logins here accept a phone number, so a username shaped like one would be ambiguous. */
  phoneLogin?: boolean;
  /**
   * Django's validators run on every registration from the API. An operator's
   * non-interactive createuser skips them, as Django's `createsuperuser
   * --noinput` does; the length bounds still hold.
   */
  passwordPolicy?: boolean;
  /** Only the CLI sets this. */
  staff?: boolean;
}

export interface ServiceOptions {
  /** Seconds since the epoch, as an integer. Tests pass a frozen clock. */
  now?: () => number;
  /** Longest a rotation family may live from its first login, in seconds. */
  refreshFamilyLifetime: number;
  /**
   * Seconds after a rotation in which the rotated refresh token, presented
   * again, gets the pair that rotation answered; past it, or with 0 (the
   * default here), it revokes its family.
   */
  rotationReuseInterval?: number;
  /** LATCHKEY_TOKEN_CLAIMS: custom claims for the routes whose preset names none; none when omitted. */
  claims?: readonly ClaimField[];
  /** SimpleJWT's AUTH_TOKEN_CLASSES (LATCHKEY_AUTH_TOKEN_CLASSES): what a protected route takes; `['access']` when omitted. */
  authTokenClasses?: readonly ('access' | 'sliding')[];
  /** Brute-force and abuse limits; none when omitted. */
  throttle?: Throttle;
  /** Sends the account mails (activation, resets); none are sent without it. */
  mailer?: Mailer;
  /** Told of a failure in work done after the answer (the mails of a reset request). Must not throw. */
  onBackgroundError?: (err: unknown) => void;
  /** Told of every authentication event, for metrics. Must not throw. */
  onEvent?: (event: AuthEvent) => void;
}

/** What the service reports as it works (the metrics count these). */
export type AuthEvent = 'login_succeeded' | 'login_failed' | 'login_throttled' | 'refresh' | 'reuse_detected';

/**
 * Who is asking: the client's network address, for per-address limits, and its
 * User-Agent, which a login records on its session. Plain strings: the HTTP
 * layer fills them in.
 */
export interface Client {
  address: string;
  userAgent?: string | undefined;
}

/** Where a request came from, for the links in mails when LATCHKEY_DOMAIN is unset: its Host and scheme. */
export interface Origin {
  host?: string | undefined;
  protocol?: 'http' | 'https' | undefined;
}

/** Used where no network client exists (the CLI, tests of the service alone). */
export const LOCAL_CLIENT: Client = { address: '127.0.0.1' };
