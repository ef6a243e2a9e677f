// Hostile input, refused at the door. Every text field of every route's body
// refuses what DRF's CharField refuses after its type check, before any
// database sees it: a NUL character (PostgreSQL cannot store one in text) and
// a lone UTF-16 surrogate (no UTF-8 encoding exists for it: PostgreSQL would
// store U+FFFD instead, and validators choke on it). Wrong JSON types are the
// body schemas' own `type` (render.ts words them as DRF does). And a request
// with two Authorization headers is refused, as is one header carrying two
// credentials (wire.ts), so that no proxy can read another credential than the
// one latchkey uses.
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { ApiError } from '../errors.js';
import { textErrors } from '../validation.js';

/**
 * The pattern every text field of a request body matches: no NUL, no lone
 * surrogate. Ajv compiles patterns with the `u` flag, under which a surrogate
 * pair is one code point outside U+D800..U+DFFF and only a lone surrogate is
 * inside it. Plain JSON Schema, so the API schema documents it too.
 */
export const TEXT_PATTERN = '^[^\\u0000\\ud800-\\udfff]*$';

/** The messages for an Ajv error of TEXT_PATTERN on `value`, or undefined for any other error. */
export function textPatternErrors(e: { keyword: string; params: Record<string, unknown> }, value: unknown): string[] | undefined {
  if (e.keyword !== 'pattern' || e.params.pattern !== TEXT_PATTERN || typeof value !== 'string') return undefined;
  return textErrors(value);
}

type Schema = Record<string, unknown>;

const takesText = (type: unknown) => type === 'string' || (Array.isArray(type) && type.includes('string'));

/**
 * A copy of a request schema in which every text value, at any depth, must
 * match TEXT_PATTERN (next to any pattern it already has). Other schemas are
 * returned as they are.
 */
export function withTextChecks(schema: unknown): unknown {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const s = schema as Schema;
  let out: Schema = s;
  if (s.properties && typeof s.properties === 'object') {
    const properties = Object.fromEntries(Object.entries(s.properties as Schema).map(([k, v]) => [k, withTextChecks(v)]));
    out = { ...out, properties };
  }
  if (s.items) out = { ...out, items: withTextChecks(s.items) };
  if (takesText(s.type)) {
    out =
      s.pattern === undefined || s.pattern === TEXT_PATTERN
        ? { ...out, pattern: TEXT_PATTERN }
        : { ...out, allOf: [...((s.allOf as unknown[] | undefined) ?? []), { pattern: TEXT_PATTERN }] };
  }
  return out;
}

/**
 * Every route mounted after this with a body schema gets the text checks in
 * it, whichever operation built the schema: one hook, so no operation can
 * forget them.
 */
export function registerInputChecks(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as Schema | undefined;
    if (schema?.body) route.schema = { ...schema, body: withTextChecks(schema.body) };
  });
}

const AUTHORIZATION = 'authorization';

/**
 * The request's Authorization header, for a route that authenticates. Node
 * keeps only the first of several (a proxy may keep the last), so a request
 * that sent more than one is refused as SimpleJWT refuses a header it cannot
 * split in two: 401 bad_authorization_header.
 */
export function authorizationOf(req: FastifyRequest): string | undefined {
  const value = req.headers.authorization;
  if (value === undefined) return undefined;
  const raw = req.raw.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === AUTHORIZATION.length && name.toLowerCase() === AUTHORIZATION && ++seen > 1) {
      throw new ApiError('bad_authorization_header');
    }
  }
  return value;
}
