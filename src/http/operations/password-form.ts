// dj-rest-auth's password views: change (signed in), reset (mails a link,
// the same answer whatever the address) and reset confirm (uid and token of
// the link). Each answers {"detail": ...} with dj-rest-auth's wording.
import type { PasswordFormAction } from '../../presets/types.js';
import { clientOf, detail, originOf, type OperationDef } from './shared.js';

const DONE: Record<PasswordFormAction, string> = {
  change: 'New password has been saved.',
  reset: 'Password reset e-mail has been sent.',
  reset_confirm: 'Password has been reset with the new password.',
};

export const password_form: OperationDef<'password_form'> = {
  protected: (r) => r.action === 'change',
  errors: ['invalid', 'throttled'],
  response: () => detail,
  handler: (r, service) => async (req, caller) => {
    switch (r.action) {
      case 'change':
        await service.changePasswordByForm(caller, req.body, { oldPassword: r.oldPassword ?? false, client: clientOf(req) });
        break;
      case 'reset':
        await service.requestPasswordReset(req.body, originOf(req), clientOf(req));
        break;
      case 'reset_confirm':
        await service.confirmPasswordResetByForm(req.body);
        break;
    }
    return { detail: DONE[r.action] };
  },
};
