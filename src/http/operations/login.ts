// Obtain a token pair with a login name and password (and, as dj-rest-auth answers, the user or the lifetimes).
import { object, str, clientOf, loginAnswer, loginAnswerSchema, type Body, type OperationDef } from './shared.js';

export const login: OperationDef<'login'> = {
  protected: false,
  errors: ['no_active_account', 'throttled'],
  // No maximum on the password here: an overlong one is just a wrong password (401).
  body: (r) => object({ [r.loginField]: str({ max: 255 }), password: str() }, [r.loginField, 'password']),
  response: (r) => loginAnswerSchema(r),
  handler:
    (r, service, { claims }) =>
    async (req) => {
      const b = req.body as Body;
      const opts = { lastLogin: r.updateLastLogin ?? true, claims };
      if (!r.withUser && !r.withExpiration) return service.login(b[r.loginField]!, b.password!, r.lookup, clientOf(req), opts);
      return loginAnswer(r, await service.signIn(b[r.loginField]!, b.password!, r.lookup, clientOf(req), opts));
    },
};
