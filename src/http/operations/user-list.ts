// The users the caller may see: everyone for staff, otherwise only the caller.
import { djoserUser, type OperationDef } from './shared.js';

export const user_list: OperationDef<'user_list'> = {
  errors: [],
  protected: true,
  response: () => ({ type: 'array', items: djoserUser }),
  handler: (_r, service) => async (_req, caller) => service.visibleUsers(caller),
};
