// The caller's profile (SPEC §4), without the password.
import { profileOf } from '../../service.js';
import { profile as schema, type OperationDef } from './shared.js';

export const profile: OperationDef<'profile'> = {
  protected: true,
  errors: [],
  response: () => schema,
  handler: (_r, service) => async (_req, caller) => profileOf(await service.account(caller)),
};
