// One user, the caller (`me`) or by id: GET shows it, PUT and PATCH change its
// email, DELETE deletes it given the caller's current password.
import type { Target } from '../../service.js';
import { clientOf, djoserUser, noContent, originOf, type OperationDef } from './shared.js';

export const user_detail: OperationDef<'user_detail'> = {
  errors: ['invalid', 'not_found', 'permission_denied', 'throttled'],
  protected: true,
  params: { type: 'object', properties: { id: { type: 'string' } } },
  response: (r) => (r.method === 'DELETE' ? {} : djoserUser),
  status: (r) => (r.method === 'DELETE' ? 204 : 200),
  handler: (r, service, { sendActivation }) => {
    const target = (params: unknown): Target => (r.target === 'me' ? 'me' : { id: String((params as { id?: string }).id ?? '') });
    switch (r.method) {
      case 'GET':
        return (req, caller) => service.targetUser(caller, target(req.params), 'read');
      case 'DELETE':
        return async (req, caller, reply) => {
          const user = await service.targetUser(caller, target(req.params), 'delete');
          await service.deleteAccount(caller, user, req.body, clientOf(req));
          return noContent(reply);
        };
      default:
        return async (req, caller) => {
          const user = await service.targetUser(caller, target(req.params), 'write');
          return service.changeEmail(user, req.body, { sendActivation, origin: originOf(req) });
        };
    }
  },
};
