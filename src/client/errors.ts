// The one error the client throws for an answer from the server that is not a
// success. It keeps the status and the body in the shape the preset writes:
// DRF's {detail, code}, the {error} envelope, or DRF field errors.

/** DRF / SimpleJWT: `{"detail": "...", "code": "token_not_valid"}` (code and messages optional). */
export interface DetailErrorBody {
  detail: string;
  code?: string;
  messages?: unknown[];
}

/** The `{"error": "..."}` envelope of the api-auth, users and phone presets. */
export interface EnvelopeErrorBody {
  error: string;
}

/** DRF field errors: `{"password": ["This password is too common."]}`. */
export type FieldErrorsBody = Record<string, string[]>;

export type LatchkeyErrorBody = DetailErrorBody | EnvelopeErrorBody | FieldErrorsBody;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError';
  /** The HTTP status. */
  readonly status: number;
  /** The parsed JSON body, or null when the body was empty or not JSON. */
  readonly body: LatchkeyErrorBody | null;
  /** `detail` or `error` from the body, whichever the preset writes. */
  readonly detail: string | undefined;
  /** DRF's `code` (e.g. `token_not_valid`), when the body has one. */
  readonly code: string | undefined;
  /** Field errors, when the body is DRF's field-error shape. */
  readonly fieldErrors: FieldErrorsBody | undefined;

  constructor(status: number, body: unknown, message?: string) {
    const rec = isRecord(body) ? body : null;
    const detail = typeof rec?.detail === 'string' ? rec.detail : typeof rec?.error === 'string' ? rec.error : undefined;
    let fieldErrors: FieldErrorsBody | undefined;
    if (rec && detail === undefined) {
      const entries = Object.entries(rec);
      if (entries.length > 0 && entries.every(([, v]) => Array.isArray(v) && v.every((m) => typeof m === 'string'))) {
        fieldErrors = rec as FieldErrorsBody;
      }
    }
    const first = fieldErrors ? Object.entries(fieldErrors)[0] : undefined;
    super(message ?? detail ?? (first ? `${first[0]}: ${first[1].join(' ')}` : `HTTP ${status}`));
    this.status = status;
    this.body = rec as LatchkeyErrorBody | null;
    this.detail = detail;
    this.code = typeof rec?.code === 'string' ? rec.code : undefined;
    this.fieldErrors = fieldErrors;
  }
}

export function isLatchkeyError(e: unknown): e is LatchkeyError {
  return e instanceof LatchkeyError;
}
