// Obtain a sliding token with a login name and password (SimpleJWT's TokenObtainSlidingView).
import { object, str, clientOf, type Body, type OperationDef } from './shared.js';

export const login_sliding: OperationDef<'login_sliding'> = {
  protected: false,
  errors: ['no_active_account', 'throttled'],
  body: (r) => object({ [r.loginField]: str({ max: 255 }), password: str() }, [r.loginField, 'password']),
  response: () => ({ type: 'object', properties: { token: { type: 'string' } }, required: ['token'] }),
  handler:
    (r, service, { claims }) =>
    async (req) => {
      const b = req.body as Body;
      return service.loginSliding(b[r.loginField]!, b.password!, r.lookup, clientOf(req), {
        lastLogin: r.updateLastLogin ?? true,
        claims,
      });
    },
};
