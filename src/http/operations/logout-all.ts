// Ends every session of the caller.
import { detail, type OperationDef } from './shared.js';

export const logout_all: OperationDef<'logout_all'> = {
  protected: true,
  errors: [],
  response: () => detail,
  handler: (_r, service) => async (_req, caller) => {
    await service.logoutAll(caller.id);
    return { detail: 'Successfully logged out of all sessions.' };
  },
};
