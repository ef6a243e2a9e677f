// The API schema (OpenAPI 3.1 at GET /api/schema/) and its docs page
// (Swagger UI at /api/docs/), generated from the mounted presets' route
// schemas. Registered before the routes so that it sees them all.
//
// Cost: @fastify/swagger only adds an onRoute hook (startup) and builds the
// document once, on the first request for it; the Swagger UI routes and their
// one hook (the CSP header) live in their own encapsulated context. Nothing
// here runs on the preset routes' requests.
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ICON_SVG, LOGO_SVG } from './logo.js';
import type { RouteDocs } from './openapi.js';
import type { Preset } from '../presets/types.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export const SCHEMA_PATH = '/api/schema/';
export const DOCS_PREFIX = '/api/docs';

/** @fastify/swagger's key for a response's description (kept out of its schema). */
const RESPONSE_DESCRIPTION = 'x-response-description';
/** @fastify/swagger's key for a body's named examples (moved to the media type). */
const EXAMPLES = 'x-examples';

/** The request bodies every preset route parses, as DRF's parsers do. */
const BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded'];

/**
 * The docs page loads its scripts, styles, images and spec from this server
 * only, and calls only this server's API ("Try it out"). The one inline style
 * allowed is the <style> of Swagger UI's top-bar logo (in
 * swagger-ui-standalone-preset.js): sha256 of
 * `.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}`.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='",
].join('; ');

type Schema = FastifySchema & {
  operationId?: string;
  produces?: string[];
  hide?: boolean;
  consumes?: string[];
  response?: Record<string, Record<string, unknown>>;
};

const fromDocument = (value: unknown) => ({ document: { summary: "The preset's document", value } });

/**
 * The route's schema as the document shows it: both body content types, a
 * description for each response, its operationId, the document's examples
 * and every error it can answer (from its `config.docs`, see openapi.ts). A
 * copy: the route validates and serializes with its own schema, untouched.
 */
function forDocs(schema: Schema | undefined, docs: RouteDocs | undefined): Schema | undefined {
  if (!schema || schema.hide) return schema;
  const out: Schema = { ...schema };
  if (docs) out.operationId = docs.operationId;
  if (docs?.produces) out.produces = docs.produces;
  if (schema.body && !schema.consumes) out.consumes = BODY_TYPES;
  const request = docs?.examples?.request;
  if (schema.body && request !== undefined) out.body = { ...(schema.body as object), [EXAMPLES]: fromDocument(request) };
  if (schema.response || docs) {
    const example = docs?.examples?.response;
    out.response = Object.fromEntries(
      Object.entries(schema.response ?? {}).map(([status, s]) => {
        const d = { ...s };
        if (!s.description && !s[RESPONSE_DESCRIPTION] && /^\d+$/.test(status))
          d[RESPONSE_DESCRIPTION] = STATUS_CODES[Number(status)] ?? 'Success';
        if (example !== undefined && /^2/.test(status) && s.type !== 'null') d[EXAMPLES] = fromDocument(example);
        return [status, d];
      }),
    );
    for (const [status, e] of Object.entries(docs?.responses ?? {})) {
      out.response[status] = {
        ...e.schema,
        [RESPONSE_DESCRIPTION]: e.description,
        [EXAMPLES]: e.examples,
        ...(e.headers ? { headers: e.headers } : {}),
      };
    }
  }
  return out;
}

/** The document's tags: one per mounted preset (with its document), then the JWKS and the operations routes. */
function tagsOf(presets: readonly Preset[]) {
  return [
    ...presets.map((p) => ({ name: p.id, description: `The ${p.id} preset, serving ${p.document}` })),
    { name: 'keys', description: 'The public keys other services verify tokens with' },
    { name: 'operations', description: 'Health and metrics, for load balancers and Prometheus' },
  ];
}

export async function registerDocs(app: FastifyInstance, presets: readonly Preset[]): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'latchkey',
        version: pkg.version,
        description:
          'JWT authentication, wire-compatible with Django REST Framework + SimpleJWT. ' +
          'Obtain a token pair, then paste the `access` token into Authorize (bearerAuth) to call protected routes. ' +
          "Each route lists every error it answers, in its preset's envelope; another method on a listed path answers 405 with an `Allow` header.",
      },
      tags: tagsOf(presets),
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    // Routes with `schema.hide` (the docs' own, the 405/OPTIONS helpers) are left out.
    transform: ({ schema, url, route }) => ({ schema: forDocs(schema as Schema, route.config?.docs) as FastifySchema, url }),
  });

  // Serialized once, on first use: the document only changes with the routes.
  let json: string | undefined;
  let yaml: string | undefined;
  app.get(SCHEMA_PATH, { schema: { hide: true } as FastifySchema }, async (req, reply) => {
    // drf-spectacular answers ?format=json (and YAML as `openapi`); JSON is the default here.
    const format = (req.query as { format?: unknown }).format;
    if (format === 'yaml' || format === 'openapi') {
      yaml ??= app.swagger({ yaml: true });
      return reply.type('application/yaml; charset=utf-8').send(yaml);
    }
    json ??= JSON.stringify(app.swagger());
    return reply.type('application/json; charset=utf-8').send(json);
  });

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // latchkey's own logo in the top bar (Swagger UI puts it in as a data: URL) and as the favicon.
    logo: { type: 'image/svg+xml', content: Buffer.from(LOGO_SVG), href: DOCS_PREFIX + '/', target: '_self' },
    theme: {
      title: 'latchkey API',
      favicon: [{ filename: 'latchkey.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: Buffer.from(ICON_SVG) }],
    },
    staticCSP: DOCS_CSP,
    uiConfig: {
      // The token pasted into Authorize survives a reload of the page.
      persistAuthorization: true,
      deepLinking: true,
      docExpansion: 'list',
      displayRequestDuration: true,
      defaultModelsExpandDepth: 0,
    },
  });
}
