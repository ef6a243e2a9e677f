// djoser's actions on /users/: activation, the resets and the changes of
// password and username. Each answers 204 with no body; resend_activation
// answers 400 with no body when no inactive account has the address, as djoser does.
import { clientOf, noContent, originOf, type OperationDef } from './shared.js';

const SIGNED_IN = new Set(['set_password', 'set_username']);

export const user_action: OperationDef<'user_action'> = {
  errors: ['invalid', 'permission_denied', 'throttled'],
  protected: (r) => SIGNED_IN.has(r.action),
  response: () => ({}),
  status: () => 204,
  handler: (r, service) => async (req, caller, reply) => {
    const origin = originOf(req);
    const client = clientOf(req);
    switch (r.action) {
      case 'activation':
        await service.activate(req.body, origin);
        break;
      case 'resend_activation':
        if (r.uniform) await service.requestLink('activation', req.body, origin, client);
        else if (!(await service.resendActivation(req.body, origin, client))) return reply.code(400).send();
        break;
      case 'set_password':
        await service.setOwnPassword(caller, req.body, { origin, client });
        break;
      case 'reset_password':
        await service.requestLink('password_reset', req.body, origin, client);
        break;
      case 'reset_password_confirm':
        await service.confirmPasswordReset(req.body, origin);
        break;
      case 'set_username':
        await service.setOwnUsername(caller, req.body, { origin, client });
        break;
      case 'reset_username':
        await service.requestLink('username_reset', req.body, origin, client);
        break;
      case 'reset_username_confirm':
        await service.confirmUsernameReset(req.body, origin);
        break;
    }
    return noContent(reply);
  },
};
