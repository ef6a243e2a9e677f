// A new access token (and, with rotation, a new refresh token) for a refresh token.
import type { FastifyRequest } from 'fastify';
import { dateTime, expirationOf, object, str, text, type Body, type OperationDef } from './shared.js';

export const refresh: OperationDef<'refresh'> = {
  protected: false,
  errors: ['token_not_valid', 'user_not_found', 'user_inactive', 'throttled'],
  body: (r) => object({ [r.tokenField]: str() }, [r.tokenField]),
  response: (r) =>
    r.withExpiration
      ? {
          type: 'object',
          properties: { access: text, refresh: text, access_expiration: dateTime, refresh_expiration: dateTime },
          required: ['access'],
        }
      : { type: 'object', properties: { access: text, refresh: text }, required: ['access'] },
  handler: (r, service, { rotate, claims }) => {
    const refresh = (req: FastifyRequest) =>
      service.refresh((req.body as Body)[r.tokenField]!, { rotate, checkUser: r.checkUser ?? true, claims }, { address: req.ip });
    if (!r.withExpiration) return refresh;
    // dj-rest-auth's refresh view: each token's expiry after it.
    return async (req) => {
      const { access, refresh: next } = await refresh(req);
      if (next === undefined) return { access, access_expiration: expirationOf(access) };
      return { access, refresh: next, access_expiration: expirationOf(access), refresh_expiration: expirationOf(next) };
    };
  },
};
