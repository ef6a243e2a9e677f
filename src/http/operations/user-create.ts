// djoser's registration: 201 {email, username, id}; the body is read as djoser's serializer reads it (service/forms.ts).
import { clientOf, originOf, type OperationDef } from './shared.js';

export const user_create: OperationDef<'user_create'> = {
  errors: ['invalid', 'username_taken', 'throttled'],
  protected: false,
  response: () => ({
    type: 'object',
    properties: { email: { type: 'string' }, username: { type: 'string' }, id: { type: 'integer' } },
    required: ['email', 'username', 'id'],
  }),
  status: () => 201,
  handler:
    (_r, service, { sendActivation }) =>
    async (req) => {
      const user = await service.createAccount(req.body, { sendActivation, origin: originOf(req) }, clientOf(req));
      return { email: user.email, username: user.username, id: user.id };
    },
};
