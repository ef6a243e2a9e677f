// The answers a verifier gives, in the shapes latchkey (and DRF + SimpleJWT's
// JWTAuthentication) give on a protected route. One class carries the status,
// the body and the headers, so every adapter sends exactly the same thing.

import { MESSAGES, WWW_AUTHENTICATE } from './wire.js';

export type VerifyErrorCode = 'not_authenticated' | 'bad_authorization_header' | 'token_not_valid' | 'service_unavailable';

/** SimpleJWT's per-token-class failure, as listed under `messages`. */
export interface VerifyTokenMessage {
  token_class: 'AccessToken' | 'SlidingToken';
  token_type: 'access' | 'sliding';
  message: string;
}

export type VerifyErrorBody =
  | { detail: string }
  | { detail: string; code: 'bad_authorization_header' }
  | { detail: string; code: 'token_not_valid'; messages: VerifyTokenMessage[] };

export { WWW_AUTHENTICATE };

/** Seconds a caller is told to wait when the key set cannot be fetched. */
const RETRY_AFTER_SECONDS = 5;

export class VerifyError extends Error {
  readonly code: VerifyErrorCode;
  readonly status: 401 | 503;
  readonly body: VerifyErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  private constructor(code: VerifyErrorCode, status: 401 | 503, body: VerifyErrorBody, options?: ErrorOptions) {
    // Expected control flow (a flood of bad tokens is thousands a second): no stack,
    // as latchkey's own ApiError and TokenError.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('messages' in body ? body.messages[0]!.message : body.detail, options);
    Error.stackTraceLimit = limit;
    this.name = 'VerifyError';
    this.code = code;
    this.status = status;
    this.body = body;
    this.headers = status === 401 ? { 'www-authenticate': WWW_AUTHENTICATE } : { 'retry-after': String(RETRY_AFTER_SECONDS) };
  }

  /** No credentials of the Bearer scheme: DRF's NotAuthenticated. */
  static notAuthenticated(): VerifyError {
    return new VerifyError('not_authenticated', 401, { detail: MESSAGES.notAuthenticated });
  }

  /** `Bearer` alone, or with more than one value after it. */
  static badAuthorizationHeader(): VerifyError {
    return new VerifyError('bad_authorization_header', 401, {
      detail: MESSAGES.badAuthorizationHeader,
      code: 'bad_authorization_header',
    });
  }

  /** A token that is not a valid access token; `message` is SimpleJWT's reason. */
  static tokenNotValid(message: string, cause?: unknown): VerifyError {
    return new VerifyError(
      'token_not_valid',
      401,
      {
        detail: MESSAGES.tokenNotValidForAnyType,
        code: 'token_not_valid',
        messages: [{ token_class: 'AccessToken', token_type: 'access', message }],
      },
      cause === undefined ? undefined : { cause },
    );
  }

  /** A token that no accepted token class (SimpleJWT's AUTH_TOKEN_CLASSES) takes; one reason per class. */
  static tokenNotValidFor(messages: VerifyTokenMessage[], cause?: unknown): VerifyError {
    return new VerifyError(
      'token_not_valid',
      401,
      { detail: MESSAGES.tokenNotValidForAnyType, code: 'token_not_valid', messages },
      cause === undefined ? undefined : { cause },
    );
  }

  /** The key set could not be fetched: fail closed, never accept. */
  static unavailable(cause?: unknown): VerifyError {
    return new VerifyError(
      'service_unavailable',
      503,
      { detail: MESSAGES.serviceUnavailable },
      cause === undefined ? undefined : { cause },
    );
  }
}

export const isVerifyError = (err: unknown): err is VerifyError => err instanceof VerifyError;
