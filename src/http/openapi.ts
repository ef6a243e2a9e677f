// What the API docs say of each route beyond its Fastify schema: its
// operationId, its document's examples, and every error it can answer, each
// rendered by the one error renderer (render.ts) in the route's own envelope,
// so the docs cannot drift from the wire. Built once per route when it is
// mounted and kept in its `config.docs`; docs.ts merges it into the document's
// copy of the route's schema. Nothing here runs on a request.
import { STATUS_CODES } from 'node:http';
import type { FastifySchema } from 'fastify';
import { ApiError, FIELD_MESSAGES, TokenError, toApiError, type ErrorCode } from '../errors.js';
import { PASSWORD_MESSAGES } from '../password-policy.js';
import type { Operation, Preset } from '../presets/types.js';
import { TOKEN_MESSAGES, WWW_AUTHENTICATE } from '@latchkey/verify/wire';
import type { JsonSchema, OperationDef, OpName } from './operations/shared.js';
import { renderError, RequestValidationError, type RouteErrorConfig } from './render.js';

/** One documented response other than the success: its schema and an example per way to get it. */
export interface DocResponse {
  description: string;
  schema: JsonSchema;
  examples: Record<string, { summary: string; value: unknown }>;
  headers?: Record<string, { type: string; description: string }>;
}

/** The response headers a client needs, by status (render.ts sets them). */
const ERROR_HEADERS: Record<string, Record<string, { type: string; description: string }>> = {
  '401': { 'www-authenticate': { type: 'string', description: WWW_AUTHENTICATE } },
  '429': { 'retry-after': { type: 'string', description: 'Seconds to wait before trying again' } },
  '503': { 'retry-after': { type: 'string', description: 'Seconds to wait before trying again' } },
};

export interface RouteDocs {
  operationId: string;
  examples?: { request?: unknown; response?: unknown } | undefined;
  /** Responses the route's own schema does not describe (its errors, or all of them), by status. */
  responses: Record<string, DocResponse>;
  /** The media types of its responses, when not JSON. */
  produces?: string[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    docs?: RouteDocs;
  }
}

const text = { type: 'string' };
const SCHEMAS = {
  error: { type: 'object', properties: { error: text }, required: ['error'] },
  detail: {
    type: 'object',
    properties: {
      detail: text,
      code: text,
      messages: {
        type: 'array',
        items: { type: 'object', properties: { token_class: text, token_type: text, message: text } },
      },
    },
    required: ['detail'],
  },
  fields: {
    type: 'object',
    description: "DRF's field errors: each field's messages; `non_field_errors` for the body as a whole",
    additionalProperties: { type: 'array', items: text },
  },
} as const satisfies Record<string, JsonSchema>;

/** Why a response is given, for the example's summary. */
const WHY: Partial<Record<ErrorCode | 'required' | 'header_token' | 'csrf', string>> = {
  required: 'A required field is missing or blank',
  invalid: 'A field fails validation',
  parse_error: 'The body is not valid JSON',
  no_active_account: 'Wrong credentials, or the account is inactive',
  not_authenticated: 'No Authorization header',
  bad_authorization_header: 'An Authorization header that is not "Bearer <token>"',
  header_token: 'An access token that is invalid, expired or revoked',
  token_not_valid: 'The token is invalid, expired or blacklisted',
  user_not_found: "The token's user no longer exists",
  user_inactive: "The token's user is deactivated",
  not_found: 'No such session of yours',
  username_taken: 'The username is taken',
  phone_taken: 'The phone number is taken',
  payload_too_large: 'The body is larger than LATCHKEY_BODY_LIMIT',
  unsupported_media_type: 'A body that is neither JSON nor a form',
  throttled: 'Too many attempts (with throttling configured); Retry-After says when to try again',
  service_unavailable: 'The database is unreachable, the password hasher is saturated, or the instance is shutting down; see Retry-After',
  csrf: 'The refresh token came in the cookie from an untrusted origin',
};

/** A field error the route's validators give, for its `invalid` example: a weak password, a bad email, or a non-string. */
function invalidField(properties: string[]): Record<string, string[]> {
  const password = properties.find((p) => p === 'password' || p === 'new_password');
  if (password) return { [password]: [PASSWORD_MESSAGES.common] };
  if (properties.includes('email')) return { email: [FIELD_MESSAGES.email] };
  return { [properties[0] ?? 'non_field_errors']: [FIELD_MESSAGES.notString] };
}

/** The error an example shows, as the service raises it. */
function sample(code: ErrorCode | 'required' | 'header_token', fields: string[], properties: string[]): ApiError {
  switch (code) {
    case 'required':
      return new RequestValidationError(Object.fromEntries(fields.map((f) => [f, [FIELD_MESSAGES.required]])), true);
    case 'invalid':
      return ApiError.fields(invalidField(properties));
    case 'header_token':
      return toApiError(new TokenError(TOKEN_MESSAGES.invalid), 'header')!;
    case 'username_taken':
      return new ApiError(code, undefined, { fields: { username: [FIELD_MESSAGES.usernameTaken] } });
    case 'phone_taken':
      return new ApiError(code, undefined, { fields: { phone_number: [FIELD_MESSAGES.phoneTaken] } });
    case 'parse_error':
      return new ApiError(code, 'JSON parse error - Unexpected end of JSON input');
    case 'throttled':
      return new ApiError(code, 'Request was throttled. Expected available in 60 seconds.', { retryAfter: 60 });
    case 'service_unavailable':
      return new ApiError(code, undefined, { retryAfter: 1 });
    default:
      return new ApiError(code);
  }
}

/** The schema of a body in this envelope: `{"error": ...}`, DRF's `{"detail": ...}`, or DRF's field errors. */
function schemaOf(body: Record<string, unknown>, envelope: RouteErrorConfig['envelope']): JsonSchema {
  if (envelope === 'error') return SCHEMAS.error;
  return 'detail' in body ? SCHEMAS.detail : SCHEMAS.fields;
}

/** Adds one example to the response it belongs to, creating it or widening its schema. */
export function addError(
  errors: Record<string, DocResponse>,
  status: number,
  name: string,
  body: Record<string, unknown>,
  schema: JsonSchema,
) {
  const key = String(status);
  const headers = ERROR_HEADERS[key];
  const res = (errors[key] ??= { description: STATUS_CODES[status] ?? 'Error', schema, examples: {}, ...(headers ? { headers } : {}) });
  if (res.schema !== schema) {
    const options = 'anyOf' in res.schema ? (res.schema.anyOf as JsonSchema[]) : [res.schema];
    if (!options.includes(schema)) res.schema = { anyOf: [...options, schema] };
  }
  res.examples[name] = { summary: WHY[name as keyof typeof WHY] ?? name, value: body };
}

/** The operationId of a preset route: `<preset>_<op>` unless the table names one. */
export const operationIdOf = (preset: Preset, r: Operation) => r.operationId ?? `${preset.id.replace(/-/g, '_')}_${r.op}`;

/** Everything the docs show of one preset route beyond its schema. */
export function presetRouteDocs(
  preset: Preset,
  r: Operation,
  def: OperationDef<OpName>,
  body: JsonSchema | undefined,
  isProtected: boolean,
): RouteDocs {
  const route: RouteErrorConfig = { envelope: preset.envelope, errors: r.errors };
  const required = ((body?.required as string[] | undefined) ?? []).slice();
  const properties = Object.keys((body?.properties as JsonSchema | undefined) ?? {});
  const codes: (ErrorCode | 'required' | 'header_token')[] = [];
  // A missing field where any is required; else a field of the wrong type.
  if (body) codes.push(required.length ? 'required' : 'invalid');
  // Fastify parses a body sent to any POST or PATCH, whether the route reads it or not.
  if (body || r.method === 'POST' || r.method === 'PATCH') codes.push('parse_error', 'payload_too_large', 'unsupported_media_type');
  if (isProtected) codes.push('not_authenticated', 'bad_authorization_header', 'header_token', 'user_not_found', 'user_inactive');
  // (A phone number can only be taken where the body has one.)
  codes.push(...def.errors.filter((c) => c !== 'phone_taken' || properties.includes('phone_number')), 'service_unavailable');
  const errors: Record<string, DocResponse> = {};
  for (const code of new Set(codes)) {
    const rendered = renderError(sample(code, required, properties), route, { unexpected: () => {} });
    addError(errors, rendered.status, code, rendered.body, schemaOf(rendered.body, route.envelope));
  }
  return { operationId: operationIdOf(preset, r), examples: r.examples, responses: errors };
}

/** Adds the 403 a cookie-transport route answers to a request from an untrusted origin (cookies.ts). */
export function addCsrfError(docs: RouteDocs, envelope: RouteErrorConfig['envelope'], message: string): void {
  addError(docs.responses, 403, 'csrf', { [envelope]: message }, envelope === 'error' ? SCHEMAS.error : SCHEMAS.detail);
}

// ---- routes outside the presets -------------------------------------------

const ok = (schema: JsonSchema, value: unknown, summary = 'Example'): DocResponse => ({
  description: 'OK',
  schema,
  examples: { example: { summary, value } },
});

const jwk = {
  type: 'object',
  description: 'A public key (RFC 7517): OKP (EdDSA: crv, x), EC (ES256: crv, x, y) or RSA (RS256: n, e)',
  properties: { kty: text, kid: text, alg: text, use: text, crv: text, x: text, y: text, n: text, e: text },
  required: ['kty', 'kid', 'alg', 'use'],
};

const readiness = {
  type: 'object',
  properties: {
    status: { enum: ['ok', 'degraded', 'unavailable'] },
    database: { enum: ['ok', 'unreachable'] },
    redis: { enum: ['ok', 'unreachable', 'not configured'] },
    fallback: { type: 'object', additionalProperties: text },
  },
  required: ['status', 'database', 'redis'],
};

/** The schema (summary, tag) and docs of the JWKS and operations routes, by path. */
export const SERVICE_ROUTES = {
  '/.well-known/jwks.json': {
    schema: { summary: 'Public keys that verify latchkey tokens (JWKS)', tags: ['keys'] },
    docs: {
      operationId: 'latchkey_jwks',
      responses: {
        '200': ok(
          { type: 'object', properties: { keys: { type: 'array', items: jwk } }, required: ['keys'] },
          {
            keys: [
              {
                crv: 'Ed25519',
                x: 'KHbrr2QK8Hnc_Wa8IPnME3Q8HLXvIIaZ1TeAjbyUOTE',
                kty: 'OKP',
                kid: 'x3Zf0q8Qv1m2ZP4Q',
                alg: 'EdDSA',
                use: 'sig',
              },
            ],
          },
          'EdDSA (with HMAC, the default, the list is empty: the secret is never published)',
        ),
      },
    },
  },
  '/healthz': {
    schema: { summary: 'Liveness: the process answers', tags: ['operations'] },
    docs: {
      operationId: 'latchkey_healthz',
      responses: { '200': ok({ type: 'object', properties: { status: { const: 'ok' } }, required: ['status'] }, { status: 'ok' }) },
    },
  },
  '/readyz': {
    schema: { summary: 'Readiness: 503 only when the database does not answer', tags: ['operations'] },
    docs: {
      operationId: 'latchkey_readyz',
      responses: {
        '200': {
          description: 'Ready (or degraded: Redis is unreachable and each instance throttles with its own counters)',
          schema: readiness,
          examples: {
            ok: { summary: 'All is well', value: { status: 'ok', database: 'ok', redis: 'not configured' } },
            degraded: {
              summary: 'Redis is unreachable',
              value: {
                status: 'degraded',
                database: 'ok',
                redis: 'unreachable',
                fallback: { redis: 'throttling counters kept by each instance' },
              },
            },
          },
        },
        '503': {
          description: 'Not ready: the database does not answer',
          schema: readiness,
          examples: {
            unavailable: { summary: 'The database is down', value: { status: 'unavailable', database: 'unreachable', redis: 'ok' } },
          },
        },
      },
    },
  },
  '/metrics': {
    schema: { summary: 'Prometheus metrics (unauthenticated: restrict it at your proxy)', tags: ['operations'] },
    docs: {
      operationId: 'latchkey_metrics',
      produces: ['text/plain'],
      responses: {
        '200': ok(
          { type: 'string' },
          '# HELP latchkey_ready Readiness as /readyz reports it\n# TYPE latchkey_ready gauge\nlatchkey_ready 1\n',
        ),
        '503': {
          description: 'With serve --workers N: the workers did not answer in time',
          schema: { type: 'string' },
          examples: { timeout: { summary: 'A worker is stuck', value: 'metrics unavailable: the workers did not answer in time\n' } },
        },
      },
    },
  },
} as const satisfies Record<string, { schema: { summary: string; tags: string[] }; docs: RouteDocs }>;

/** The route options that document one of SERVICE_ROUTES (docs only: nothing here validates or serializes). */
export const documented = (path: keyof typeof SERVICE_ROUTES) => ({
  schema: SERVICE_ROUTES[path].schema as FastifySchema,
  config: { docs: SERVICE_ROUTES[path].docs as RouteDocs },
});
