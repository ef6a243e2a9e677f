// What every operation file uses: the shape of an operation's definition, the
// request helpers, and the schema pieces several operations share.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../../errors.js';
import type { LoginAnswer, Operation } from '../../presets/types.js';
import type { AuthService, Client, Origin } from '../../service.js';
import type { UserAuth, UserRecord } from '../../storage/types.js';
import type { ClaimField } from '../../users/claims.js';
import { fieldSpec, SHOWN_FIELDS, type UserField } from '../../users/fields.js';

export type JsonSchema = Record<string, unknown>;
export type OpName = Operation['op'];
/** A preset's route of one operation, with that operation's own settings (field names, wording...). */
export type RouteOf<N extends OpName> = Extract<Operation, { op: N }>;

/**
 * An operation's work on one request: its success body, or a promise of it.
 * `caller` is the authenticated user on a protected route (a placeholder on a
 * public one, which never reads it).
 */
export type Handler = (req: FastifyRequest, caller: UserAuth, reply: FastifyReply) => unknown;

/** What mounting knows beyond the route: the preset's settings, after the LATCHKEY_* that override them. */
export interface MountContext {
  /** Refresh rotation (LATCHKEY_ROTATE_REFRESH_TOKENS). */
  rotate: boolean;
  /** A registration makes an inactive account and mails its activation link (LATCHKEY_SEND_ACTIVATION_EMAIL). */
  sendActivation: boolean;
  /** The preset's custom claims (its `claims`); undefined: LATCHKEY_TOKEN_CLAIMS's. */
  claims: readonly ClaimField[] | undefined;
}

/**
 * One operation, everything about it in one place. Each method is called once,
 * when the route is mounted; only the Handler it returns runs per request.
 */
export interface OperationDef<N extends OpName> {
  /**
   * Whether the caller must present a Bearer access token. A protected route
   * authenticates before it reads the body (401 before any body error), and
   * answers 401 before 405 on its path.
   */
  protected: boolean | ((r: RouteOf<N>) => boolean);
  /**
   * The errors the operation itself can answer (the API docs list them), beyond
   * those every route with a body, a Bearer token or storage can give (see
   * src/http/openapi.ts).
   */
  errors: readonly ErrorCode[];
  /** The request body's schema, in the route's field names; none: the route reads no body. */
  body?(r: RouteOf<N>): JsonSchema;
  /** The path parameters' schema, if the URL has any. */
  params?: JsonSchema;
  /** The success body's schema: Fastify serializes the answer by it. */
  response(r: RouteOf<N>): JsonSchema;
  /** The success status; 200 when absent. */
  status?(r: RouteOf<N>): number;
  /**
   * True when the route answers every caller it lets in with the same body
   * (no user data, no request data): a GET of it may be answered by the fast
   * lane (src/http/fast-lane.ts).
   */
  constant?(r: RouteOf<N>): boolean;
  handler(r: RouteOf<N>, service: AuthService, ctx: MountContext): Handler;
}

/** A request body after validation: the declared fields, as strings. */
export type Body = Record<string, string>;

/** What a session records of the client: its address and User-Agent, as plain strings. */
export const clientOf = (req: FastifyRequest): Client => ({ address: req.ip, userAgent: req.headers['user-agent'] });

/** Where a request came from, for the links in mails: its Host header and scheme. */
export const originOf = (req: FastifyRequest): Origin => ({
  host: req.headers.host,
  protocol: req.protocol === 'https' ? 'https' : 'http',
});

/** djoser's user, as its UserSerializer writes it: email, id, username, in that order. */
export const djoserUser = {
  type: 'object',
  properties: { email: { type: 'string' }, id: { type: 'integer' }, username: { type: 'string' } },
  required: ['email', 'id', 'username'],
};

/** A 204 with no body and no Content-Type, as DRF answers an action. */
export function noContent(reply: FastifyReply): FastifyReply {
  return reply.code(204).send();
}

// ---- schema pieces ---------------------------------------------------------

/** A string field as DRF's CharField takes it: not blank unless `blank`, at most `max` characters. */
export const str = (opts: { blank?: boolean; max?: number | undefined } = {}) => ({
  type: 'string',
  ...(opts.blank ? {} : { minLength: 1 }),
  ...(opts.max ? { maxLength: opts.max } : {}),
});

export const object = (properties: JsonSchema, required: string[]): JsonSchema => ({
  type: 'object',
  properties,
  required,
});

/** A user field in a request body: may be blank; with `nullable`, null (a PATCH clearing it) if the field allows it. */
export function userFieldInput(name: UserField, opts: { nullable?: boolean } = {}): JsonSchema {
  const spec = fieldSpec(name);
  const s = str({ blank: true, max: spec.max });
  return opts.nullable && spec.nullable ? { ...s, type: ['string', 'null'] } : s;
}

export const text = { type: 'string' };

export const pair = {
  type: 'object',
  properties: { refresh: { type: 'string' }, access: { type: 'string' } },
  required: ['refresh', 'access'],
};

export const detail = { type: 'object', properties: { detail: text }, required: ['detail'] };

// ---- dj-rest-auth's answers ------------------------------------------------------

/** dj-rest-auth's UserDetailsSerializer: pk, username, email, first_name, last_name (email read-only). */
export const userDetails = {
  type: 'object',
  properties: {
    pk: { type: 'integer', readOnly: true },
    username: text,
    email: { type: 'string', readOnly: true },
    first_name: text,
    last_name: text,
  },
  required: ['pk', 'username', 'email', 'first_name', 'last_name'],
};

export const dateTime = { type: 'string', format: 'date-time' };

export const userDetailsOf = (u: UserRecord) => ({
  pk: u.id,
  username: u.username,
  email: u.email,
  first_name: u.first_name,
  last_name: u.last_name,
});

/**
 * A token's expiry as DRF's DateTimeField writes it in UTC: ISO 8601 with `Z`
 * (whole seconds, as a token's `exp` is, so without a fraction).
 */
export function expirationOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
  if (typeof payload.exp !== 'number') throw new TypeError('a token without exp');
  return new Date(payload.exp * 1000).toISOString().replace('.000Z', 'Z');
}

/** A login's answer: the pair, or dj-rest-auth's {access, refresh, user?, access_expiration?, refresh_expiration?}. */
export function loginAnswerSchema(r: LoginAnswer): JsonSchema {
  if (!r.withUser && !r.withExpiration) return pair;
  const properties: JsonSchema = { access: text, refresh: text };
  if (r.withUser) properties.user = userDetails;
  if (r.withExpiration) Object.assign(properties, { access_expiration: dateTime, refresh_expiration: dateTime });
  return { type: 'object', properties, required: Object.keys(properties) };
}

export function loginAnswer(r: LoginAnswer, signedIn: { user: UserRecord; tokens: { access: string; refresh: string } }) {
  const { access, refresh } = signedIn.tokens;
  if (!r.withUser && !r.withExpiration) return { refresh, access };
  return {
    access,
    refresh,
    ...(r.withUser ? { user: userDetailsOf(signedIn.user) } : {}),
    ...(r.withExpiration ? { access_expiration: expirationOf(access), refresh_expiration: expirationOf(refresh) } : {}),
  };
}

/** The user's profile (SPEC §4) as the account routes answer it, from the field table. */
export const profile = {
  type: 'object',
  properties: Object.fromEntries(
    SHOWN_FIELDS.map((name) => {
      const spec = fieldSpec(name);
      const type = spec.type === 'time' ? 'string' : spec.type;
      const s = { type: spec.nullable ? [type, 'null'] : type };
      return [name, spec.set.includes('patch') ? s : { ...s, readOnly: true }];
    }),
  ),
  required: [...SHOWN_FIELDS],
};

/**
 * DRF's CharField before validation: a missing body is empty data, a number
 * becomes its string, surrounding whitespace is trimmed (passwords excepted:
 * they are checked exactly as typed), and a form field given twice takes its
 * last value, as Django's QueryDict does.
 */
export function normalizeBody(fields: string[]) {
  // (Fields named *password* are the passwords: password, old_password, new_password.)
  return async (req: FastifyRequest) => {
    if (req.body === undefined || req.body === null) req.body = {};
    const body = req.body;
    if (typeof body !== 'object' || Array.isArray(body)) return;
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const b = body as Record<string, unknown>;
    for (const f of fields) {
      let v = b[f];
      if (form && Array.isArray(v)) v = v[v.length - 1];
      if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
      if (typeof v === 'string' && !f.includes('password')) v = v.trim();
      if (v !== undefined) b[f] = v;
    }
  };
}

/**
 * A form body (urlencoded or multipart) as DRF reads it: a field given twice
 * counts by its last value, as Django's QueryDict does. A JSON body is left
 * as it came, lists and all.
 */
export async function lastFormValues(req: FastifyRequest): Promise<void> {
  const type = req.headers['content-type'] ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) return;
  const body = req.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(v)) (body as Record<string, unknown>)[k] = v[v.length - 1];
  }
}
