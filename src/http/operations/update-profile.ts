// A partial update of the caller's profile: the preset's editable fields only.
import { profileOf, type ProfilePatch } from '../../service.js';
import { object, profile, userFieldInput, type JsonSchema, type OperationDef } from './shared.js';

export const update_profile: OperationDef<'update_profile'> = {
  protected: true,
  errors: ['invalid', 'phone_taken'],
  body(r) {
    // Only the editable fields are declared; anything else sent (is_staff,
    // username, id...) is read-only and ignored, as DRF ignores it.
    const props: JsonSchema = {};
    for (const f of r.editable) props[f] = userFieldInput(f, { nullable: true });
    return object(props, []);
  },
  response: () => profile,
  handler: (r, service) => async (req, caller) => {
    const user = await service.account(caller);
    const b = req.body as Record<string, string | null | undefined>;
    const patch = Object.fromEntries(r.editable.filter((f) => b[f] !== undefined).map((f) => [f, b[f]])) as ProfilePatch;
    return profileOf(await service.updateProfile(user, patch));
  },
};
