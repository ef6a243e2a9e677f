// Mounts preset route tables on Fastify. Each operation has one thin handler
// here; the preset supplies only its paths, field names and wording.
import type { FastifyInstance, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { ApiError } from '../errors.js';
import type { Operation, Preset, ProfileField } from '../presets/types.js';
import type { AuthService } from '../service.js';
import { MAX_PASSWORD_LENGTH } from '../passwords.js';
import type { RouteErrorConfig } from './render.js';

type Body = Record<string, string>;

const PROFILE_MAX: Record<ProfileField, number> = {
  email: 254,
  phone_number: 16,
  first_name: 150,
  last_name: 150,
  address: 255,
  postal_code: 20,
  birthdate: 10,
};

const str = (opts: { blank?: boolean; max?: number } = {}) => ({
  type: 'string',
  ...(opts.blank ? {} : { minLength: 1 }),
  ...(opts.max ? { maxLength: opts.max } : {}),
});

/** The request body schema for an operation, in the preset's field names. */
function bodySchema(r: Operation): Record<string, unknown> | undefined {
  const object = (properties: Record<string, unknown>, required: string[]) => ({
    type: 'object',
    properties,
    required,
  });
  switch (r.op) {
    case 'login':
      // No maximum on the password here: an overlong one is just a wrong password (401).
      return object({ [r.loginField]: str({ max: 255 }), password: str() }, [r.loginField, 'password']);
    case 'register': {
      const props: Record<string, unknown> = { username: str({ max: 150 }), password: str({ max: MAX_PASSWORD_LENGTH }) };
      for (const f of r.profile) props[f] = str({ blank: true, max: PROFILE_MAX[f] });
      return object(props, ['username', 'password', ...(r.requirePhone ? ['phone_number'] : [])]);
    }
    case 'refresh':
    case 'verify':
    case 'blacklist':
      return object({ [r.tokenField]: str() }, [r.tokenField]);
    case 'me':
      return undefined;
  }
}

const pair = {
  type: 'object',
  properties: { refresh: { type: 'string' }, access: { type: 'string' } },
  required: ['refresh', 'access'],
};

/** Success bodies, declared so Fastify serializes them by schema. */
function responseSchema(r: Operation): Record<string, unknown> {
  switch (r.op) {
    case 'login':
      return pair;
    case 'register':
      if (r.respond === 'pair') return pair;
      if (r.respond === 'id') {
        return { type: 'object', properties: { id: { type: 'integer' }, username: { type: 'string' } } };
      }
      return {
        type: 'object',
        properties: {
          content: {
            type: 'object',
            properties: {
              pk: { type: 'integer' },
              username: { type: 'string' },
              email: { type: 'string' },
              first_name: { type: 'string' },
              last_name: { type: 'string' },
              profile_image: { type: ['string', 'null'] },
              tokens: pair,
            },
          },
        },
      };
    case 'refresh':
      return { type: 'object', properties: { access: { type: 'string' }, refresh: { type: 'string' } }, required: ['access'] };
    case 'verify':
      return { type: 'object', properties: {} };
    case 'blacklist':
      return r.respond === 'empty'
        ? { type: 'object', properties: {} }
        : { type: 'object', properties: { detail: { type: 'string' } } };
    case 'me':
      return r.respond === 'message'
        ? { type: 'object', properties: { message: { type: 'string' } } }
        : { type: 'object', properties: { username: { type: 'string' } } };
  }
}

type Handler = (req: FastifyRequest) => Promise<{ status: number; body: unknown }>;

function handlerFor(r: Operation, service: AuthService, rotate: boolean): Handler {
  const ok = (body: unknown, status = 200) => ({ status, body });
  switch (r.op) {
    case 'login':
      return async (req) => {
        const b = req.body as Body;
        return ok(await service.login(b[r.loginField]!, b.password!, r.lookup, { address: req.ip }));
      };
    case 'register':
      return async (req) => {
        const b = req.body as Body;
        const profile = Object.fromEntries(r.profile.map((f) => [f, b[f]]));
        const user = await service.register(
          { username: b.username!, password: b.password!, ...profile },
          { requirePhone: r.requirePhone ?? false, phoneLogin: r.phoneLogin ?? false },
          { address: req.ip },
        );
        if (r.respond === 'id') return ok({ id: user.id, username: user.username }, r.status);
        const tokens = await service.issuePair(user.id);
        if (r.respond === 'pair') return ok(tokens, r.status);
        const { id: pk, username, email, first_name, last_name, profile_image } = user;
        return ok({ content: { pk, username, email, first_name, last_name, profile_image, tokens } }, r.status);
      };
    case 'refresh':
      return async (req) => ok(await service.refresh((req.body as Body)[r.tokenField]!, { rotate }, { address: req.ip }));
    case 'verify':
      return async (req) => {
        await service.verify((req.body as Body)[r.tokenField]!, { address: req.ip });
        return ok({});
      };
    case 'blacklist':
      return async (req) => {
        await service.blacklist((req.body as Body)[r.tokenField]!);
        return ok(r.respond === 'empty' ? {} : { detail: 'Successfully logged out.' });
      };
    case 'me':
      return async (req) => {
        const user = await service.authenticate(req.headers.authorization);
        if (!user) throw new ApiError('not_authenticated');
        return ok(r.respond === 'message' ? { message: 'You have accessed a protected route!' } : { username: user.username });
      };
  }
}

/**
 * DRF's CharField before validation: a missing body is empty data, a number
 * becomes its string, surrounding whitespace is trimmed (passwords excepted:
 * they are checked exactly as typed), and a form field given twice takes its
 * last value, as Django's QueryDict does.
 */
function normalizeBody(fields: string[]) {
  return async (req: FastifyRequest) => {
    if (req.body === undefined || req.body === null) req.body = {};
    const body = req.body;
    if (typeof body !== 'object' || Array.isArray(body)) return;
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const b = body as Record<string, unknown>;
    for (const f of fields) {
      let v = b[f];
      if (form && Array.isArray(v)) v = v[v.length - 1];
      if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
      if (typeof v === 'string' && f !== 'password') v = v.trim();
      if (v !== undefined) b[f] = v;
    }
  };
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    errors?: RouteErrorConfig;
  }
}

export function mountPresets(
  app: FastifyInstance,
  presets: Preset[],
  service: AuthService,
  rotateOverride: boolean | undefined,
): void {
  const byUrl = new Map<string, { methods: Set<string>; errors: RouteErrorConfig; protected: boolean }>();
  for (const preset of presets) {
    const rotate = rotateOverride ?? preset.rotate;
    for (const r of preset.routes) {
      const errors: RouteErrorConfig = { envelope: preset.envelope, errors: r.errors };
      const handle = handlerFor(r, service, rotate);
      const body = bodySchema(r);
      const route: RouteOptions = {
        method: r.method,
        url: r.url,
        config: { errors },
        schema: {
          summary: r.summary,
          tags: [preset.id],
          ...(body ? { body } : {}),
          response: { [r.op === 'register' ? r.status : 200]: responseSchema(r) },
          ...(r.op === 'me' ? { security: [{ bearerAuth: [] }] } : {}),
        } as FastifySchema,
        ...(body ? { preValidation: normalizeBody(Object.keys((body as { properties: object }).properties)) } : {}),
        handler: async (req, reply) => {
          const { status, body: out } = await handle(req);
          return reply.code(status).send(out);
        },
      };
      app.route(route);
      const entry = byUrl.get(r.url) ?? { methods: new Set<string>(), errors, protected: false };
      entry.methods.add(r.method);
      if (r.op === 'me') entry.protected = true;
      if (r.method === 'GET') entry.methods.add('HEAD');
      byUrl.set(r.url, entry);
    }
  }
  // DRF answers other methods on a known path with 405 and an Allow header.
  for (const [url, { methods, errors, protected: isProtected }] of byUrl) {
    const allow = [...methods, 'OPTIONS'].join(', ');
    const others = ALL_METHODS.filter((m) => !methods.has(m) && m !== 'OPTIONS');
    app.route({
      method: [...others],
      url,
      config: { errors },
      schema: { hide: true } as FastifySchema,
      handler: async (req, reply) => {
        // DRF authenticates before it looks for a method handler: on a
        // protected path, a client without credentials hears 401, not 405.
        if (isProtected && !(await service.authenticate(req.headers.authorization))) {
          throw new ApiError('not_authenticated');
        }
        reply.header('allow', allow);
        throw new ApiError('method_not_allowed', `Method "${req.method}" not allowed.`);
      },
    });
    app.route({
      method: 'OPTIONS',
      url,
      config: { errors },
      schema: { hide: true } as FastifySchema,
      handler: async (_req, reply) =>
        reply.header('allow', allow).send({
          renders: ['application/json'],
          parses: ['application/json', 'application/x-www-form-urlencoded'],
        }),
    });
  }
}
