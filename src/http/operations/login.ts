// Obtain a token pair with a login name and password.
import { object, pair, str, clientOf, type Body, type OperationDef } from './shared.js';

export const login: OperationDef<'login'> = {
  protected: false,
  errors: ['no_active_account', 'throttled'],
  // No maximum on the password here: an overlong one is just a wrong password (401).
  body: (r) => object({ [r.loginField]: str({ max: 255 }), password: str() }, [r.loginField, 'password']),
  response: () => pair,
  handler: (r, service) => async (req) => {
    const b = req.body as Body;
    return service.login(b[r.loginField]!, b.password!, r.lookup, clientOf(req), { lastLogin: r.updateLastLogin ?? true });
  },
};
