// A protected route: the greeting, or the caller's username. The most requested
// protected GET, so it answers without reading anything but the cached user.
import type { OperationDef } from './shared.js';

const PROTECTED_MESSAGE = { message: 'You have accessed a protected route!' };

export const me: OperationDef<'me'> = {
  protected: true,
  errors: [],
  constant: (r) => r.respond === 'message',
  response: (r) =>
    r.respond === 'message'
      ? { type: 'object', properties: { message: { type: 'string' } } }
      : { type: 'object', properties: { username: { type: 'string' } } },
  handler: (r) => (r.respond === 'message' ? () => PROTECTED_MESSAGE : (_req, user) => ({ username: user.username })),
};
