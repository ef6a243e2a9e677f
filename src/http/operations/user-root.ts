// djoser's API root: each link as an absolute URL on the request's own host.
import { originOf, type OperationDef } from './shared.js';

export const user_root: OperationDef<'user_root'> = {
  errors: [],
  protected: false,
  response: (r) => ({ type: 'object', properties: Object.fromEntries(Object.keys(r.links).map((k) => [k, { type: 'string' }])) }),
  handler: (r) => (req) => {
    const { host, protocol } = originOf(req);
    return Object.fromEntries(Object.entries(r.links).map(([k, path]) => [k, `${protocol}://${host ?? 'localhost'}${path}`]));
  },
};
