// Creates a user from the preset's fields, then answers as the preset's document does.
import { MAX_PASSWORD_LENGTH } from '../../passwords.js';
import { fieldSpec } from '../../users/fields.js';
import { clientOf, object, pair, str, userFieldInput, type Body, type JsonSchema, type OperationDef } from './shared.js';

export const register: OperationDef<'register'> = {
  protected: false,
  errors: ['invalid', 'username_taken', 'phone_taken', 'throttled'],
  body(r) {
    const props: JsonSchema = { username: str({ max: fieldSpec('username').max }), password: str({ max: MAX_PASSWORD_LENGTH }) };
    for (const f of r.profile) props[f] = userFieldInput(f);
    return object(props, ['username', 'password', ...(r.requirePhone ? ['phone_number'] : [])]);
  },
  response(r) {
    if (r.respond === 'pair') return pair;
    if (r.respond === 'id') return { type: 'object', properties: { id: { type: 'integer' }, username: { type: 'string' } } };
    return {
      type: 'object',
      properties: {
        content: {
          type: 'object',
          properties: {
            pk: { type: 'integer' },
            username: { type: 'string' },
            email: { type: 'string' },
            first_name: { type: 'string' },
            last_name: { type: 'string' },
            profile_image: { type: ['string', 'null'] },
            tokens: pair,
          },
        },
      },
    };
  },
  status: (r) => r.status,
  handler:
    (r, service, { claims }) =>
    async (req) => {
      const b = req.body as Body;
      const profile = Object.fromEntries(r.profile.map((f) => [f, b[f]]));
      const user = await service.register(
        { username: b.username!, password: b.password!, ...profile },
        { requirePhone: r.requirePhone ?? false, phoneLogin: r.phoneLogin ?? false },
        clientOf(req),
      );
      if (r.respond === 'id') return { id: user.id, username: user.username };
      const tokens = await service.issuePair(user, undefined, clientOf(req), { claims });
      if (r.respond === 'pair') return tokens;
      const { id: pk, username, email, first_name, last_name, profile_image } = user;
      return { content: { pk, username, email, first_name, last_name, profile_image, tokens } };
    },
};
