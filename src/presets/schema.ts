// The preset file format: a Preset (types.ts) as JSON or YAML, defined once
// here as a zod schema. The loader (files.ts) validates every preset with it,
// built-in or not, and `latchkey presets schema` prints it as JSON Schema.
// Adding a field to a route or a preset: add it to types.ts and here; the
// checks at the bottom fail to compile until both agree.
import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../errors.js';
import { LOGIN_KEYS, type LoginKey } from '../service/types.js';
import { CLAIM_FIELDS, type ClaimField } from '../users/claims.js';
import { PATCH_FIELDS, REGISTER_FIELDS, type PatchField, type RegisterField } from '../users/fields.js';
import type { DjoserAction, Operation, Preset } from './types.js';

const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];
const DJOSER_ACTIONS = [
  'activation',
  'resend_activation',
  'set_password',
  'reset_password',
  'reset_password_confirm',
  'set_username',
  'reset_username',
  'reset_username_confirm',
] as const satisfies readonly DjoserAction[];

/** A path on this server: starts with `/`; `:id` is a path parameter where an operation takes one. */
const url = z
  .string()
  .regex(/^\/[^\s?#]*$/, 'must be a path starting with "/" (no spaces, query or fragment)')
  .meta({ id: 'Path', description: 'A path, relative to the preset\'s `prefix`, e.g. "/auth/jwt/create/"' });

/** A field name in a request body. */
const fieldName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'must be a field name (letters, digits, _ . -; at most 64)')
  .meta({ id: 'FieldName', description: 'A field of the request body' });

const errorOverride = z
  .strictObject({
    status: z.number().int().min(400).max(599).optional().meta({ description: 'The HTTP status to answer instead' }),
    message: z.string().min(1).optional().meta({ description: 'The message to answer instead' }),
    code: z
      .union([z.string().min(1), z.literal(false)])
      .optional()
      .meta({
        description:
          "The `code` beside `detail`: a string names it, false leaves it out; by default the error table's (none with a `message`)",
      }),
  })
  .meta({ id: 'ErrorOverride', description: 'What the route answers instead of the default, for one error' });

const errors = z
  .partialRecord(z.enum([...ERROR_CODES, 'required']), errorOverride)
  .meta({ id: 'ErrorOverrides', description: 'Error overrides by error code; `required` is a missing or blank request field' });

const examples = z
  .strictObject({
    request: z.record(z.string(), z.unknown()).optional().meta({ description: 'An example request body' }),
    response: z.unknown().optional().meta({ description: 'An example success body' }),
  })
  .meta({ id: 'Examples', description: "The document's own examples, shown in the API docs" });

const routeBase = {
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
  url,
  summary: z.string().min(1).meta({ description: 'One line for the API docs and `latchkey presets show`' }),
  errors: errors.optional(),
  operationId: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be letters, digits and _')
    .optional()
    .meta({ description: 'The API docs\' operationId; by default "<preset id>_<op>", which must then be unique in the preset' }),
  examples: examples.optional(),
  prefix: z.boolean().optional().meta({ description: 'Also answer every path that starts with the URL without its trailing slash' }),
  optionalSlash: z.boolean().optional().meta({ description: 'Also answer the URL without its trailing slash' }),
  metadata: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: "DRF's metadata answer to an OPTIONS request on this path (name, description, actions)" }),
};

const loginKey = z.enum(LOGIN_KEYS);
const tokenField = fieldName.describe('The request field that carries the token');
const checkUser = z
  .boolean()
  .optional()
  .meta({ description: "false: SimpleJWT's own refresh and verify, which never look at the token's user" });

/** What a login answers beside the pair (dj-rest-auth's JWT serializers). */
const loginAnswer = {
  withUser: z.boolean().optional().meta({ description: 'Adds `user`: {pk, username, email, first_name, last_name}' }),
  withExpiration: z.boolean().optional().meta({ description: 'Adds `access_expiration` and `refresh_expiration`, ISO 8601 in UTC' }),
};

const route = <Op extends string, S extends z.ZodRawShape>(op: Op, shape: S, description: string) =>
  z.strictObject({ ...routeBase, op: z.literal(op), ...shape }).meta({ id: `Route_${op}`, description });

/** How a login (a pair, or a sliding token) names and finds its user. */
const loginShape = {
  loginField: fieldName.meta({ description: 'The request field that names the user' }),
  lookup: z
    .union([loginKey, z.enum(['phone', 'username_or_phone']), z.array(loginKey).min(1).readonly()], {
      error: 'must be "username", "email", "phone_number", or a list of them, e.g. ["username", "email"]',
    })
    .meta({
      description:
        'How the user is found by that field: "username", "email", "phone_number", or several in the order they are tried ' +
        '(["username", "email"]: a login by username or email). By email, only when exactly one active account has the address. ' +
        '"phone" is "phone_number"; "username_or_phone" is ["phone_number", "username"].',
    }),
  updateLastLogin: z.boolean().optional().meta({ description: "SimpleJWT's UPDATE_LAST_LOGIN; default true" }),
};

export const operationSchema = z.discriminatedUnion('op', [
  route('login', { ...loginShape, ...loginAnswer }, 'Obtain a token pair with a login name and a password'),
  route(
    'register',
    {
      profile: z
        .array(z.enum(REGISTER_FIELDS as [RegisterField, ...RegisterField[]]))
        .meta({ description: 'The optional profile fields the body may carry' }),
      requirePhone: z.boolean().optional(),
      phoneLogin: z.boolean().optional().meta({ description: 'Logins accept a phone number, so a username may not look like one' }),
      status: z.union([z.literal(200), z.literal(201)], { error: 'must be 200 or 201' }),
      respond: z.enum(['pair', 'content', 'id']),
    },
    'Register a user',
  ),
  route(
    'refresh',
    {
      tokenField,
      checkUser,
      withExpiration: z
        .boolean()
        .optional()
        .meta({ description: 'Adds `access_expiration` (and, with a new refresh token, `refresh_expiration`)' }),
    },
    'A new access token (and, rotating, a new refresh token) for a refresh token',
  ),
  route('verify', { tokenField, checkUser }, 'Whether a token is valid'),
  route(
    'login_sliding',
    loginShape,
    'Obtain a sliding token with a login name and a password (SimpleJWT\'s TokenObtainSlidingView): {"token"}',
  ),
  route(
    'refresh_sliding',
    { tokenField, checkUser },
    "A sliding token with a new exp, while its refresh_exp has not passed (SimpleJWT's TokenRefreshSlidingView)",
  ),
  route(
    'blacklist',
    {
      tokenField,
      respond: z.enum(['empty', 'logged_out']),
      tokenType: z
        .enum(['refresh', 'sliding'])
        .optional()
        .meta({ description: 'The token type blacklisted: "refresh" (default; SimpleJWT\'s TokenBlacklistView) or "sliding"' }),
    },
    'Blacklist a refresh token (log out), or a sliding token',
  ),
  route('me', { respond: z.enum(['message', 'username']) }, 'A protected route: a greeting, or the username'),
  route('profile', {}, "The signed-in user's profile"),
  route(
    'update_profile',
    { editable: z.array(z.enum(PATCH_FIELDS as [PatchField, ...PatchField[]])) },
    "A partial update of the signed-in user's profile",
  ),
  route('change_password', { oldField: fieldName, newField: fieldName }, 'Change the password; answers a fresh pair'),
  route('list_sessions', {}, "The signed-in user's sessions"),
  route('revoke_session', {}, 'End one session, named by the `:id` path parameter'),
  route('logout_all', {}, 'End every session of the signed-in user'),
  route('user_root', { links: z.record(z.string(), z.string()) }, "djoser's API root"),
  route('user_create', {}, "Registration in djoser's shape"),
  route('user_list', {}, 'The users a caller may see'),
  route('user_detail', { target: z.enum(['me', 'id']) }, 'One user, `me` or by the `:id` path parameter'),
  route('user_action', { action: z.enum(DJOSER_ACTIONS), uniform: z.boolean().optional() }, "One of djoser's account actions"),
  route('login_form', loginAnswer, 'A login by `username` or `email` and `password` (dj-rest-auth); bad credentials are a 400'),
  route('user_details', {}, "The caller's pk, username, email and names: GET, or PUT / PATCH (dj-rest-auth)"),
  route(
    'password_form',
    {
      action: z.enum(['change', 'reset', 'reset_confirm']),
      oldPassword: z.boolean().optional().meta({ description: "dj-rest-auth's OLD_PASSWORD_FIELD_ENABLED" }),
    },
    'A password flow with new_password1 and new_password2 (dj-rest-auth)',
  ),
  route('register_form', {}, 'Registration with username, email, password1 and password2 (dj-rest-auth)'),
]);

/** What a preset file holds. */
export const presetFileSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: "This format's JSON Schema, for editors (`latchkey presets schema`)" }),
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - and _')
      .optional()
      .meta({ description: "The preset's name (API docs tag, LATCHKEY_REFRESH_COOKIE); default: the file name without its extension" }),
    document: z.string().min(1).optional().meta({ description: 'The document this preset serves' }),
    prefix: z
      .string()
      .regex(/^(\/[^\s?#/]+)+$/, 'must be a path starting with "/" and not ending with one, e.g. "/api/v1"')
      .optional()
      .meta({ description: 'Mount every route (and notFound, guarded) under this path' }),
    envelope: z.enum(['detail', 'error']).meta({ description: '`detail`: DRF\'s error shapes; `error`: {"error": "..."}' }),
    rotate: z.boolean().meta({ description: 'Whether refresh rotates, unless LATCHKEY_ROTATE_REFRESH_TOKENS says otherwise' }),
    authHeaderTypes: z
      .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP auth scheme, e.g. "Bearer"'))
      .min(1)
      .readonly()
      .optional()
      .meta({ description: 'SimpleJWT\'s AUTH_HEADER_TYPES for the protected routes; default ["Bearer"]' }),
    allowOnEveryAnswer: z.boolean().optional().meta({ description: 'Send `Allow` on every answer, as DRF does' }),
    notFound: z
      .strictObject({ prefix: url, html: z.string() })
      .optional()
      .meta({ description: 'Paths under `prefix` that no route serves answer 404 with this HTML page' }),
    guarded: z
      .array(url)
      .readonly()
      .optional()
      .meta({ description: 'On these paths, a method no route serves answers 401 to an anonymous caller before 405' }),
    sendActivationEmail: z.boolean().optional(),
    claims: z
      .array(z.enum(CLAIM_FIELDS as [ClaimField, ...ClaimField[]]))
      .readonly()
      .optional()
      .meta({
        description:
          "Custom claims: user fields every token this preset's routes mint carries (SimpleJWT's get_token override), instead of LATCHKEY_TOKEN_CLAIMS's",
      }),
    routes: z.array(operationSchema).min(1),
  })
  .meta({ title: 'latchkey preset', description: 'The routes of one API document, mounted by LATCHKEY_PRESETS' });

export type PresetFile = z.infer<typeof presetFileSchema>;

/** The format as JSON Schema (draft 2020-12), as `latchkey presets schema` prints it. */
export const presetJsonSchema = () => z.toJSONSchema(presetFileSchema, { io: 'input', unrepresentable: 'any' });

// ---- the schema and types.ts describe one format --------------------------

type Same<A, B> = [A] extends [B]
  ? [B] extends [A]
    ? [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never]
      ? true
      : false
    : false
  : false;
type RouteOf<U, K> = U extends { op: K } ? U : never;
type ParsedRoute = z.infer<typeof operationSchema>;
const routesAgree: { [K in Operation['op']]: Same<RouteOf<Operation, K>, RouteOf<ParsedRoute, K>> } = {
  login: true,
  register: true,
  refresh: true,
  verify: true,
  login_sliding: true,
  refresh_sliding: true,
  blacklist: true,
  me: true,
  profile: true,
  update_profile: true,
  change_password: true,
  list_sessions: true,
  revoke_session: true,
  logout_all: true,
  user_root: true,
  user_create: true,
  user_list: true,
  user_detail: true,
  user_action: true,
  login_form: true,
  user_details: true,
  password_form: true,
  register_form: true,
};
const presetAgrees: Same<Omit<Preset, 'routes' | 'id' | 'document'>, Omit<PresetFile, 'routes' | 'id' | 'document' | '$schema'>> = true;
void routesAgree;
void presetAgrees;
export type { LoginKey };
