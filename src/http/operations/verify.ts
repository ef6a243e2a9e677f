// Whether a token is valid: an empty object if it is.
import { object, str, type Body, type OperationDef } from './shared.js';

export const verify: OperationDef<'verify'> = {
  protected: false,
  errors: ['token_not_valid', 'throttled'],
  body: (r) => object({ [r.tokenField]: str() }, [r.tokenField]),
  response: () => ({ type: 'object', properties: {} }),
  handler: (r, service) => async (req) => {
    await service.verify((req.body as Body)[r.tokenField]!, { address: req.ip }, { checkUser: r.checkUser ?? true });
    return {};
  },
};
