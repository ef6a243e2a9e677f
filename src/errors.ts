// The error table: every API error latchkey can answer with, its HTTP status,
// its default message (DRF's or SimpleJWT's own wording) and whether DRF puts
// the code in the body. Two kinds of error exist: ConfigError stops startup,
// ApiError is answered to a client. README's "Errors" section lists every code,
// and src/ uses every one; test/errors.test.ts checks both. toApiError is the
// one place an internal error (a busy hasher, a bad token, the database down)
// becomes an ApiError. Wording shared with latchkey/verify and latchkey/client
// comes from @latchkey/verify/wire (packages/verify/src/wire.ts).
import { TokenError } from '@latchkey/verify/claims';
import { MESSAGES, TOKEN_MESSAGES } from '@latchkey/verify/wire';

export const ERRORS = {
  invalid: { status: 400, message: 'Invalid input.', withCode: false },
  parse_error: { status: 400, message: 'Malformed request.', withCode: false },
  no_active_account: { status: 401, message: 'No active account found with the given credentials', withCode: false },
  not_authenticated: { status: 401, message: MESSAGES.notAuthenticated, withCode: false },
  bad_authorization_header: { status: 401, message: MESSAGES.badAuthorizationHeader, withCode: true },
  token_not_valid: { status: 401, message: TOKEN_MESSAGES.invalid, withCode: true },
  user_not_found: { status: 401, message: 'User not found', withCode: true },
  user_inactive: { status: 401, message: 'User is inactive', withCode: true },
  permission_denied: { status: 403, message: 'You do not have permission to perform this action.', withCode: false },
  not_found: { status: 404, message: 'Not found.', withCode: false },
  method_not_allowed: { status: 405, message: 'Method not allowed.', withCode: false },
  username_taken: { status: 400, message: 'A user with that username already exists.', withCode: false },
  phone_taken: { status: 400, message: 'A user with this phone number already exists.', withCode: false },
  payload_too_large: { status: 413, message: 'Request body is too large.', withCode: false },
  unsupported_media_type: { status: 415, message: 'Unsupported media type in request.', withCode: false },
  throttled: { status: 429, message: 'Request was throttled.', withCode: false },
  server_error: { status: 500, message: 'A server error occurred.', withCode: false },
  service_unavailable: { status: 503, message: MESSAGES.serviceUnavailable, withCode: false },
} as const satisfies Record<string, { status: number; message: string; withCode: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

/** DRF's field-error shape: `{"field": ["message", ...]}`. */
export type FieldErrors = Record<string, string[]>;

/** SimpleJWT's per-token-class failure list on a protected route. */
export interface TokenMessage {
  token_class: string;
  token_type: string;
  message: string;
}

/**
 * An error the client is told about. It carries a code from the table, not an
 * HTTP status: the service layer knows nothing of HTTP, and the HTTP layer
 * looks the status up in ERRORS.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly fields: FieldErrors | undefined;
  readonly messages: TokenMessage[] | undefined;
  /** Seconds until a throttled or overloaded caller may try again. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, detail?: string, extra: { fields?: FieldErrors; messages?: TokenMessage[]; retryAfter?: number } = {}) {
    // No stack trace: client errors are expected control flow (a flood of bad
    // tokens is thousands a second), and capturing a stack for each cost more
    // than the rest of the request. TokenError and TokenBackendError do the same.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ?? ERRORS[code].message);
    Error.stackTraceLimit = limit;
    this.name = 'ApiError';
    this.code = code;
    this.fields = extra.fields;
    this.messages = extra.messages;
    this.retryAfter = extra.retryAfter;
  }

  /** A 400 with DRF field errors. */
  static fields(fields: FieldErrors): ApiError {
    return new ApiError('invalid', firstFieldMessage(fields), { fields });
  }
}

export function firstFieldMessage(fields: FieldErrors): string {
  for (const messages of Object.values(fields)) if (messages[0]) return messages[0];
  return ERRORS.invalid.message;
}

/** Misconfiguration found at startup. The CLI prints its message on one line and exits non-zero. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The database could not be reached; requests that need it fail closed with 503. */
export class StorageUnavailableError extends Error {
  constructor(cause: unknown) {
    super('storage unavailable', { cause });
    this.name = 'StorageUnavailableError';
  }
}

/** Why a token was refused (SimpleJWT's wording); thrown by checkClaims, so it lives with it in @latchkey/verify. */
export { TokenError };

/** The password hasher's queue is full, or a hash waited too long for a slot (passwords.ts). */
export class HasherBusyError extends Error {
  constructor() {
    super('password hasher is saturated');
    this.name = 'HasherBusyError';
  }
}

/** Seconds a caller is told to wait when the hasher is busy or the database is down. */
const UNAVAILABLE_RETRY_AFTER = 1;

/**
 * The one translation of internal errors into what the client is told, or
 * undefined for an error that is not the client's to hear about (a bug, to be
 * logged and answered with a 500). A TokenError is answered as SimpleJWT
 * does: with its reason as the detail where a token came in the body, and
 * under `messages` where it came in the Authorization header.
 */
export function toApiError(err: unknown, tokenFrom: 'body' | 'header' = 'body'): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof HasherBusyError || err instanceof StorageUnavailableError) {
    return new ApiError('service_unavailable', undefined, { retryAfter: UNAVAILABLE_RETRY_AFTER });
  }
  if (err instanceof TokenError) {
    if (tokenFrom === 'body') return new ApiError('token_not_valid', err.message);
    return new ApiError('token_not_valid', MESSAGES.tokenNotValidForAnyType, {
      messages: [{ token_class: 'AccessToken', token_type: 'access', message: err.message }],
    });
  }
  return undefined;
}

/** A unique constraint was hit; `field` names the user field that collided. */
export class UniqueViolationError extends Error {
  readonly field: 'username' | 'phone_number';
  constructor(field: 'username' | 'phone_number') {
    super(`unique violation on ${field}`);
    this.name = 'UniqueViolationError';
    this.field = field;
  }
}

// DRF's standard field messages.
export const FIELD_MESSAGES = {
  required: 'This field is required.',
  blank: 'This field may not be blank.',
  null: 'This field may not be null.',
  notString: 'Not a valid string.',
  maxLength: (n: number) => `Ensure this field has no more than ${n} characters.`,
  minLength: (n: number) => `Ensure this field has at least ${n} characters.`,
  email: 'Enter a valid email address.',
  date: 'Date has wrong format. Use one of these formats instead: YYYY-MM-DD.',
  futureDate: 'Date of birth cannot be in the future.',
  phone: 'Enter a valid phone number in E.164 format, such as +919876543210.',
  usernameTaken: 'A user with that username already exists.',
  usernameIsPhone: 'A phone number cannot be a username; give it as phone_number.',
  phoneTaken: 'A user with this phone number already exists.',
  username: 'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
} as const;
