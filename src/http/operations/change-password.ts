// Checks the old password, sets the new one, ends every session and answers a fresh pair.
import { MAX_PASSWORD_LENGTH } from '../../passwords.js';
import { clientOf, object, pair, str, text, type Body, type OperationDef } from './shared.js';

export const change_password: OperationDef<'change_password'> = {
  protected: true,
  errors: ['invalid', 'throttled'],
  // No maximum on the old password: an overlong one is just a wrong one.
  body: (r) => object({ [r.oldField]: str(), [r.newField]: str({ max: MAX_PASSWORD_LENGTH }) }, [r.oldField, r.newField]),
  response: () => ({ type: 'object', properties: { detail: text, ...pair.properties }, required: ['detail', ...pair.required] }),
  handler:
    (r, service, { claims }) =>
    async (req, caller) => {
      const user = await service.account(caller);
      const b = req.body as Body;
      const tokens = await service.changePassword(user, b[r.oldField]!, b[r.newField]!, clientOf(req), { claims });
      return { detail: 'New password has been saved.', ...tokens };
    },
};
