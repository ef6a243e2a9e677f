// Logs out by blacklisting a refresh token.
import { object, str, type Body, type OperationDef } from './shared.js';

export const blacklist: OperationDef<'blacklist'> = {
  protected: false,
  errors: ['token_not_valid'],
  body: (r) => object({ [r.tokenField]: str() }, [r.tokenField]),
  response: (r) =>
    r.respond === 'empty' ? { type: 'object', properties: {} } : { type: 'object', properties: { detail: { type: 'string' } } },
  handler: (r, service) => async (req) => {
    await service.blacklist((req.body as Body)[r.tokenField]!, r.tokenType ?? 'refresh');
    return r.respond === 'empty' ? {} : { detail: 'Successfully logged out.' };
  },
};
