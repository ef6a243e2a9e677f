// Turns any error into the status, body and headers a DRF client expects, in
// the envelope of the route that failed. Nothing internal ever reaches a body.
import type { FastifyError } from 'fastify';
import { ApiError, ERRORS, FIELD_MESSAGES, toApiError, type FieldErrors } from '../errors.js';
import type { Envelope, ErrorOverrides } from '../presets/types.js';
import { textPatternErrors } from './input.js';
import { WWW_AUTHENTICATE, wwwAuthenticate } from '@latchkey/verify/wire';

/** A request body that failed its route's schema, translated to DRF's field errors. */
export class RequestValidationError extends ApiError {
  /** True when a field was missing, blank or null: routes may word that case themselves. */
  readonly missing: boolean;
  constructor(fields: FieldErrors, missing: boolean) {
    super('invalid', undefined, { fields });
    this.missing = missing;
  }
}

export interface RouteErrorConfig {
  envelope: Envelope;
  errors?: ErrorOverrides | undefined;
  /** The scheme a 401 names in WWW-Authenticate (AUTH_HEADER_TYPES[0]); default Bearer. */
  authScheme?: string | undefined;
}

export interface Rendered {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  data?: unknown;
}

/** Ajv's errors, in DRF's words, keyed by field. */
export function translateValidation(errors: AjvError[], body: unknown): RequestValidationError {
  const fields: FieldErrors = {};
  let missing = false;
  const add = (field: string, message: string) => {
    const list = (fields[field] ??= []);
    if (!list.includes(message)) list.push(message);
  };
  for (const e of errors) {
    if (e.keyword === 'required') {
      add(String(e.params.missingProperty), FIELD_MESSAGES.required);
      missing = true;
      continue;
    }
    const field = e.instancePath.replace(/^\//, '').split('/')[0] ?? '';
    if (field === '') {
      const got = Array.isArray(body) ? 'list' : body === null ? 'NoneType' : typeof body === 'string' ? 'str' : typeof body;
      add('non_field_errors', `Invalid data. Expected a dictionary, but got ${got}.`);
      continue;
    }
    const value = (body as Record<string, unknown> | null)?.[field];
    switch (e.keyword) {
      case 'type':
        if (value === null) missing = true;
        add(field, value === null ? FIELD_MESSAGES.null : FIELD_MESSAGES.notString);
        break;
      case 'minLength':
        if (e.params.limit === 1) {
          missing = true;
          add(field, FIELD_MESSAGES.blank);
        } else add(field, FIELD_MESSAGES.minLength(Number(e.params.limit)));
        break;
      case 'maxLength':
        add(field, FIELD_MESSAGES.maxLength(Number(e.params.limit)));
        break;
      default:
        for (const m of textPatternErrors(e, value) ?? ['Invalid value.']) add(field, m);
    }
  }
  return new RequestValidationError(fields, missing);
}

const fieldsText = (fields: FieldErrors) =>
  Object.entries(fields)
    .map(([field, messages]) => (field === 'non_field_errors' ? messages.join(' ') : `${field}: ${messages.join(' ')}`))
    .join(' ');

/** Fastify's own request errors (parsing, media type, size), as API errors. */
function fromFastify(err: FastifyError, contentType: string | undefined): ApiError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', `Unsupported media type "${contentType ?? ''}" in request.`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('parse_error', `JSON parse error - ${err.message}`);
  }
  if (err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_ASYNC_CONSTRAINT') return new ApiError('not_found');
  if (err.statusCode === 400) return new ApiError('parse_error', err.message);
  if (err.statusCode === 413) return new ApiError('payload_too_large');
  if (err.statusCode === 415) return new ApiError('unsupported_media_type');
  return undefined;
}

/**
 * The one place an error becomes a response. `unexpected` is called for
 * anything that is not a known client error, so it can be logged.
 */
export function renderError(
  err: unknown,
  route: RouteErrorConfig,
  ctx: { body?: unknown; contentType?: string | undefined; unexpected: (err: unknown) => void },
): Rendered {
  let api = toApiError(err);
  if (api === undefined && err && typeof err === 'object') {
    if ('validation' in err && Array.isArray(err.validation)) api = translateValidation(err.validation as AjvError[], ctx.body);
    else if ('code' in err) api = fromFastify(err as FastifyError, ctx.contentType);
  }
  if (!api) {
    ctx.unexpected(err);
    api = new ApiError('server_error');
  }
  const key = api instanceof RequestValidationError && api.missing ? 'required' : api.code;
  const override = route.errors?.[key];
  const spec = ERRORS[api.code];
  const status = override?.status ?? spec.status;

  let body: Record<string, unknown>;
  if (route.envelope === 'error') {
    body = { error: override?.message ?? (api.code === 'invalid' && api.fields ? fieldsText(api.fields) : api.message) };
  } else if (override?.message !== undefined) {
    body = { detail: override.message };
    if (typeof override.code === 'string') body.code = override.code;
  } else if (api.fields) {
    // Field errors keep DRF's shape whatever their code (invalid, username_taken, phone_taken).
    body = api.fields;
  } else {
    body = { detail: api.message };
    if (typeof override?.code === 'string') body.code = override.code;
    else if (spec.withCode && override?.code !== false) body.code = api.code;
    if (api.messages) body.messages = api.messages;
  }

  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = route.authScheme ? wwwAuthenticate(route.authScheme) : WWW_AUTHENTICATE;
  if (api.retryAfter !== undefined) headers['retry-after'] = String(api.retryAfter);
  return { status, body, headers };
}
