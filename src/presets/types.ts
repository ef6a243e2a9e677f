// A preset is data: the routes of one API document, each naming an operation
// of the service and how its document spells the fields, the success body and
// the errors. The HTTP layer turns this table into Fastify routes.
import type { ErrorCode } from '../errors.js';
import type { Lookup } from '../service.js';

/** `detail`: DRF's shapes. `error`: the document writes `{"error": "..."}`. */
export type Envelope = 'detail' | 'error';

/** What a route answers instead of the table's default, for one error code. */
export interface ErrorOverride {
  status?: number;
  message?: string;
}

/** Error overrides by code; `required` is a missing or blank request field. */
export type ErrorOverrides = Partial<Record<ErrorCode | 'required', ErrorOverride>>;

export type ProfileField =
  | 'email'
  | 'phone_number'
  | 'first_name'
  | 'last_name'
  | 'address'
  | 'postal_code'
  | 'birthdate';

interface RouteBase {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  errors?: ErrorOverrides;
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
    });

export interface Preset {
  id: string;
  /** The seed document this preset serves. */
  document: string;
  envelope: Envelope;
  /** Whether refresh rotates, unless LATCHKEY_ROTATE_REFRESH_TOKENS says otherwise. */
  rotate: boolean;
  routes: Operation[];
}
