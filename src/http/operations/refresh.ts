// A new access token (and, with rotation, a new refresh token) for a refresh token.
import { object, str, type Body, type OperationDef } from './shared.js';

export const refresh: OperationDef<'refresh'> = {
  protected: false,
  errors: ['token_not_valid', 'user_not_found', 'user_inactive', 'throttled'],
  body: (r) => object({ [r.tokenField]: str() }, [r.tokenField]),
  response: () => ({ type: 'object', properties: { access: { type: 'string' }, refresh: { type: 'string' } }, required: ['access'] }),
  handler:
    (r, service, { rotate }) =>
    (req) =>
      service.refresh((req.body as Body)[r.tokenField]!, { rotate, checkUser: r.checkUser ?? true }, { address: req.ip }),
};
