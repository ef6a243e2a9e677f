// A preset is data: the routes of one API document, each naming an operation
// of the service and how its document spells the fields, the success body and
// the errors. The HTTP layer turns this table into Fastify routes; what each
// operation does is src/http/operations/<op>.ts (which also says whether it
// needs a Bearer access token).
import type { ErrorCode } from '../errors.js';
import type { Lookup } from '../service.js';
import type { PatchField, RegisterField } from '../users/fields.js';

/** `detail`: DRF's shapes. `error`: the document writes `{"error": "..."}`. */
export type Envelope = 'detail' | 'error';

/** What a route answers instead of the table's default, for one error code. */
export interface ErrorOverride {
  status?: number;
  message?: string;
}

/** Error overrides by code; `required` is a missing or blank request field. */
export type ErrorOverrides = Partial<Record<ErrorCode | 'required', ErrorOverride>>;

/** An optional field a registration body may carry (src/users/fields.ts). */
export type ProfileField = RegisterField;

/** A profile field a signed-in user may change (the account preset's PATCH). */
export type EditableField = PatchField;

interface RouteBase {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  errors?: ErrorOverrides;
  /** The API docs' operationId; by default `<preset>_<op>`, which must then be unique in the preset. */
  operationId?: string;
  /** The document's own examples of the request body and the success body, shown in the API docs. */
  examples?: RouteExamples;
}

export interface RouteExamples {
  request?: Record<string, unknown>;
  response?: unknown;
}

export type Operation =
  | (RouteBase & {
      op: 'login';
      /** The request field that names the user, and how the user is looked up by it. */
      loginField: string;
      lookup: Lookup;
    })
  | (RouteBase & {
      op: 'register';
      profile: ProfileField[];
      requirePhone?: boolean;
      /** This preset logs users in by phone number, so a username may not look like one. */
      phoneLogin?: boolean;
      status: 200 | 201;
      /** `pair`: {refresh, access}; `content`: api-auth's wrapped profile; `id`: {id, username}. */
      respond: 'pair' | 'content' | 'id';
    })
  | (RouteBase & { op: 'refresh'; tokenField: string })
  | (RouteBase & { op: 'verify'; tokenField: string })
  | (RouteBase & {
      op: 'blacklist';
      tokenField: string;
      /** The success body. */
      respond: 'empty' | 'logged_out';
    })
  | (RouteBase & {
      op: 'me';
      /** `message`: the protected-endpoint greeting; `username`: {username}. */
      respond: 'message' | 'username';
    })
  // The account operations: each needs a Bearer access token and acts on its user.
  /** The user's profile (SPEC §4), without the password. */
  | (RouteBase & { op: 'profile' })
  /** A partial update of the fields in `editable`; every other field is read-only and ignored. */
  | (RouteBase & { op: 'update_profile'; editable: EditableField[] })
  /** Checks `oldField`, sets `newField`, revokes every session and answers a fresh pair. */
  | (RouteBase & { op: 'change_password'; oldField: string; newField: string })
  /** The user's live sessions (rotation families). */
  | (RouteBase & { op: 'list_sessions' })
  /** Ends one of the user's sessions, named by the `:id` path parameter; 204. */
  | (RouteBase & { op: 'revoke_session' })
  /** Ends every session of the user. */
  | (RouteBase & { op: 'logout_all' });

export interface Preset {
  id: string;
  /** The document this preset serves: a seed in docs/seeds/, or (account) latchkey's own README section. */
  document: string;
  envelope: Envelope;
  /** Whether refresh rotates, unless LATCHKEY_ROTATE_REFRESH_TOKENS says otherwise. */
  rotate: boolean;
  routes: Operation[];
}
