// dj-rest-auth's user details: GET shows the caller; PUT (username required)
// and PATCH change the username and names. pk and email are read-only.
import { userDetails, userDetailsOf, type OperationDef } from './shared.js';

export const user_details: OperationDef<'user_details'> = {
  protected: true,
  errors: ['invalid'],
  response: () => userDetails,
  handler: (r, service) =>
    r.method === 'GET'
      ? async (_req, caller) => userDetailsOf(await service.account(caller))
      : async (req, caller) => userDetailsOf(await service.updateDetails(caller, req.body, { partial: r.method === 'PATCH' })),
};
