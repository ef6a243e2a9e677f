import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from './helpers.js';

describe('smoke: default presets', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
    await s.user({ username: 'alice', password: 'pw-alice-123' });
  });
  after(() => s.close());

  it('logs in and reaches the protected route', async () => {
    const login = await s.post('/api/token/', { username: 'alice', password: 'pw-alice-123' });
    assert.equal(login.statusCode, 200);
    const { access } = login.json() as { access: string };
    const res = await s.get('/api/protected-endpoint/', access);
    assert.deepEqual(res.json(), { message: 'You have accessed a protected route!' });
  });
});
