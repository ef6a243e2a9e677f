// The ceiling: a bare Fastify route answering the protected route's JSON,
// with nothing else. Started by bench/run.ts as its own process.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const body = { message: 'You have accessed a protected route!' };
app.get(
  '/api/protected-endpoint/',
  { schema: { response: { 200: { type: 'object', properties: { message: { type: 'string' } } } } } },
  async () => body,
);
const port = Number(process.env.PORT ?? 0);
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void app.close().then(() => process.exit(0)));
}
