// The caller's live sessions (rotation families), the most recently used first.
import { sessionOf } from '../../service.js';
import { text, type OperationDef } from './shared.js';

const session = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    created_at: text,
    last_used_at: text,
    user_agent: text,
    ip_address: text,
  },
  required: ['id', 'created_at', 'last_used_at', 'user_agent', 'ip_address'],
};

export const list_sessions: OperationDef<'list_sessions'> = {
  protected: true,
  errors: [],
  response: () => ({ type: 'array', items: session }),
  handler: (_r, service) => async (_req, caller) => (await service.sessions(caller.id)).map(sessionOf),
};
