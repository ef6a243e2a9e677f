// A sliding token with a new exp, for a sliding token whose refresh_exp has not passed (SimpleJWT's TokenRefreshSlidingView).
import { object, str, type Body, type OperationDef } from './shared.js';

export const refresh_sliding: OperationDef<'refresh_sliding'> = {
  protected: false,
  errors: ['token_not_valid', 'user_not_found', 'user_inactive', 'throttled'],
  body: (r) => object({ [r.tokenField]: str() }, [r.tokenField]),
  response: () => ({ type: 'object', properties: { token: { type: 'string' } }, required: ['token'] }),
  handler:
    (r, service, { claims }) =>
    (req) =>
      service.refreshSliding((req.body as Body)[r.tokenField]!, { checkUser: r.checkUser ?? true, claims }, { address: req.ip }),
};
