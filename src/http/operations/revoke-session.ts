// Ends one of the caller's sessions, named by the `:id` path parameter; 204.
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import type { OperationDef } from './shared.js';

/** A session id from the path: a positive integer, or the route does not exist for it. */
function sessionId(req: FastifyRequest): number {
  const raw = (req.params as { id?: string }).id ?? '';
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) throw new ApiError('not_found');
  return Number(raw);
}

export const revoke_session: OperationDef<'revoke_session'> = {
  protected: true,
  errors: ['not_found'],
  params: { type: 'object', properties: { id: { type: 'string', description: 'The session id' } } },
  response: () => ({ type: 'null', description: 'No content' }),
  status: () => 204,
  handler: (_r, service) => async (req, caller) => {
    await service.revokeSession(sessionId(req), caller.id);
    return null;
  },
};
