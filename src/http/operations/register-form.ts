// dj-rest-auth's registration (dj_rest_auth.registration, allauth with
// ACCOUNT_EMAIL_VERIFICATION "none"): 201 with the pair and the user.
import { clientOf, loginAnswer, loginAnswerSchema, type OperationDef } from './shared.js';

const ANSWER = { withUser: true } as const;

export const register_form: OperationDef<'register_form'> = {
  protected: false,
  errors: ['invalid', 'throttled'],
  response: () => loginAnswerSchema(ANSWER),
  status: () => 201,
  handler:
    (_r, service, { claims }) =>
    async (req) =>
      loginAnswer(ANSWER, await service.registerByForm(req.body, clientOf(req), claims)),
};
