// dj-rest-auth's login: username or email, and password, read as its
// LoginSerializer reads them; bad credentials are a 400 non-field error.
import { clientOf, loginAnswer, loginAnswerSchema, type OperationDef } from './shared.js';

export const login_form: OperationDef<'login_form'> = {
  protected: false,
  errors: ['invalid', 'throttled'],
  response: (r) => loginAnswerSchema(r),
  handler:
    (r, service, { claims }) =>
    async (req) =>
      loginAnswer(r, await service.loginByForm(req.body, clientOf(req), claims)),
};
