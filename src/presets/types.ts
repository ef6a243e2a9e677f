// A preset is data: the routes of one API document, each naming an operation
// of the service and how its document spells the fields, the success body and
// the errors. It is written as a preset file (JSON or YAML; schema.ts is the
// format, builtin/ the built-in ones). The HTTP layer turns this table into Fastify routes; what each
// operation does is src/http/operations/<op>.ts (which also says whether it
// needs a Bearer access token).
import type { ErrorCode } from '../errors.js';
import type { Lookup } from '../service.js';
import type { ClaimField } from '../users/claims.js';
import type { PatchField, RegisterField } from '../users/fields.js';

/** `detail`: DRF's shapes. `error`: the document writes `{"error": "..."}`. */
export type Envelope = 'detail' | 'error';

/** What a route answers instead of the table's default, for one error code. */
export interface ErrorOverride {
  status?: number;
  message?: string;
  /**
   * The `code` beside `detail` in the body: a string names it, false leaves
   * it out. By default the error table's (and none with a `message`).
   */
  code?: string | false;
}

/** Error overrides by code; `required` is a missing or blank request field. */
export type ErrorOverrides = Partial<Record<ErrorCode | 'required', ErrorOverride>>;

/** An optional field a registration body may carry (src/users/fields.ts). */
export type ProfileField = RegisterField;

/** A profile field a signed-in user may change (the account preset's PATCH). */
export type EditableField = PatchField;

interface RouteBase {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  errors?: ErrorOverrides;
  /** The API docs' operationId; by default `<preset>_<op>`, which must then be unique in the preset. */
  operationId?: string;
  /** The document's own examples of the request body and the success body, shown in the API docs. */
  examples?: RouteExamples;
  /**
   * Also answer every path that starts with the URL without its trailing
   * slash (djoser mounts SimpleJWT's views as `re_path(r"^jwt/create/?")`).
   */
  prefix?: boolean;
  /** Also answer the URL without its trailing slash (dj-rest-auth mounts its views as `re_path(r"login/?$")`). */
  optionalSlash?: boolean;
  /** DRF's metadata answer to an OPTIONS request on this path (`name`, `description`, `actions`). */
  metadata?: Record<string, unknown>;
}

export interface RouteExamples {
  request?: Record<string, unknown>;
  response?: unknown;
}

/** The djoser actions on `/users/` (djoser's UserViewSet), each a one-time-link or account flow. */
export type DjoserAction =
  | 'activation'
  | 'resend_activation'
  | 'set_password'
  | 'reset_password'
  | 'reset_password_confirm'
  | 'set_username'
  | 'reset_username'
  | 'reset_username_confirm';

/** What a login answers beside the pair, as dj-rest-auth's JWT serializers do. */
export interface LoginAnswer {
  /** Adds `user`: {pk, username, email, first_name, last_name} (dj-rest-auth's UserDetailsSerializer). */
  withUser?: boolean;
  /** Adds `access_expiration` and `refresh_expiration`, ISO 8601 in UTC (dj-rest-auth's JWT_AUTH_RETURN_EXPIRATION). */
  withExpiration?: boolean;
}

/** dj-rest-auth's password views: change (signed in), reset (mails a link), reset_confirm (uid, token). */
export type PasswordFormAction = 'change' | 'reset' | 'reset_confirm';

export type Operation =
  | (RouteBase & {
      op: 'login';
      /** The request field that names the user, and how the user is looked up by it. */
      loginField: string;
      lookup: Lookup;
      /** SimpleJWT's UPDATE_LAST_LOGIN: whether a login sets last_login; default true. */
      updateLastLogin?: boolean;
    } & LoginAnswer)
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
  /**
   * `checkUser: false` is SimpleJWT's own refresh and verify, which never look
   * at the token's user (a deleted or inactive user's token still refreshes).
   */
  | (RouteBase & {
      op: 'refresh';
      tokenField: string;
      checkUser?: boolean;
      /** Adds `access_expiration` (and, with a new refresh token, `refresh_expiration`), as dj-rest-auth's refresh view does. */
      withExpiration?: boolean;
    })
  | (RouteBase & { op: 'verify'; tokenField: string; checkUser?: boolean })
  /** SimpleJWT's TokenObtainSlidingView: `{"token"}`, a sliding token. */
  | (RouteBase & {
      op: 'login_sliding';
      loginField: string;
      lookup: Lookup;
      updateLastLogin?: boolean;
    })
  /** SimpleJWT's TokenRefreshSlidingView: the sliding token in `tokenField` comes back with a new exp. */
  | (RouteBase & { op: 'refresh_sliding'; tokenField: string; checkUser?: boolean })
  | (RouteBase & {
      op: 'blacklist';
      tokenField: string;
      /**
       * The token type taken: `refresh` (default; SimpleJWT's
       * TokenBlacklistView, which refuses a sliding token as of the wrong type) or `sliding`.
       */
      tokenType?: 'refresh' | 'sliding';
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
  | (RouteBase & { op: 'logout_all' })
  // djoser's UserViewSet (src/service/account-life.ts, directory.ts).
  /** djoser's API root: links to the user list. */
  | (RouteBase & { op: 'user_root'; links: Record<string, string> })
  /** Registration in djoser's shape: 201 {email, username, id}, inactive until activated when activation mail is on. */
  | (RouteBase & { op: 'user_create' })
  /** The users a caller may see: staff see everyone, others themselves. */
  | (RouteBase & { op: 'user_list' })
  /** One user, `me` or by the `:id` path parameter: GET, PUT, PATCH or DELETE by the route's method. */
  | (RouteBase & { op: 'user_detail'; target: 'me' | 'id' })
  /**
   * One of djoser's actions. `uniform`: resend_activation answers 204 whether
   * or not an inactive account has the address (djoser answers 400 when none does).
   */
  | (RouteBase & { op: 'user_action'; action: DjoserAction; uniform?: boolean })
  // dj-rest-auth's views (src/service/forms-accounts.ts): bodies read as its serializers read them.
  /** A login by `username` or `email` and `password`; bad credentials are a 400 non-field error. */
  | (RouteBase & { op: 'login_form' } & LoginAnswer)
  /** The caller's pk, username, email, first_name, last_name: GET, or PUT / PATCH of username and the names. */
  | (RouteBase & { op: 'user_details' })
  /** A password flow with new_password1 and new_password2; `oldPassword`: OLD_PASSWORD_FIELD_ENABLED. Answers {detail}. */
  | (RouteBase & { op: 'password_form'; action: PasswordFormAction; oldPassword?: boolean })
  /** Registration with username, email, password1, password2: 201 with the pair and the user. */
  | (RouteBase & { op: 'register_form' });

export interface Preset {
  id: string;
  /** The document this preset serves: a seed in docs/seeds/, or (account) latchkey's own README section. */
  document: string;
  envelope: Envelope;
  /** Whether refresh rotates, unless LATCHKEY_ROTATE_REFRESH_TOKENS says otherwise. */
  rotate: boolean;
  routes: Operation[];
  /**
   * Mount every route (and `notFound`, `guarded`) under this path, e.g.
   * `/api/v1`. The loader applies it: a loaded preset's URLs include it.
   */
  prefix?: string;
  /** SimpleJWT's AUTH_HEADER_TYPES for this preset, unless LATCHKEY_AUTH_HEADER_TYPES says otherwise; default `Bearer`. */
  authHeaderTypes?: readonly string[];
  /** DRF sends `Allow` on every answer of a view, not only on 405. */
  allowOnEveryAnswer?: boolean;
  /** Paths under `prefix` that no route serves answer 404 with this HTML page (Django's own). */
  notFound?: { prefix: string; html: string };
  /**
   * On these paths (a route's URL starting with one), a method no route serves
   * answers 401 to an anonymous caller before 405, OPTIONS included, as a
   * DRF viewset whose default permission needs a user does.
   */
  guarded?: readonly string[];
  /**
   * Custom claims: user fields every token this preset's routes mint carries
   * (SimpleJWT's get_token override); instead of LATCHKEY_TOKEN_CLAIMS's.
   */
  claims?: readonly ClaimField[];
  /** Registration creates an inactive user and mails an activation link, unless LATCHKEY_SEND_ACTIVATION_EMAIL says otherwise. */
  sendActivationEmail?: boolean;
}
