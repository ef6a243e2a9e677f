// The API schema (OpenAPI 3.1 at GET /api/schema/) and its docs page
// (Swagger UI at /api/docs/), generated from the mounted presets' route
// schemas. Registered before the routes so that it sees them all.
import type { FastifyInstance } from 'fastify';

export async function registerDocs(_app: FastifyInstance): Promise<void> {
  // Filled in by the docs work (issue 7).
}
