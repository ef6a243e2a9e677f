// Small assertions shared by the preset tests: status, exact body, and the
// WWW-Authenticate header that every 401 must carry.
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { claimsOf } from '../helpers.js';

export const WWW_AUTHENTICATE = 'Bearer realm="api"';

/** The parsed JSON body; fails if the response is not JSON. */
export function body(res: LightMyRequestResponse): Record<string, unknown> {
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json/, `not JSON: ${res.body}`);
  return res.json() as Record<string, unknown>;
}

/** Status and the whole body; on a 401 also the WWW-Authenticate header. */
export function expectExact(res: LightMyRequestResponse, status: number, expected: unknown): void {
  assert.equal(res.statusCode, status, `status ${res.statusCode}, body ${res.body}`);
  assert.deepEqual(body(res), expected);
  if (status === 401) assert.equal(res.headers['www-authenticate'], WWW_AUTHENTICATE);
}

/** A 401 with the header; returns the body for further checks. */
export function expect401(res: LightMyRequestResponse): Record<string, unknown> {
  assert.equal(res.statusCode, 401, `status ${res.statusCode}, body ${res.body}`);
  assert.equal(res.headers['www-authenticate'], WWW_AUTHENTICATE);
  return body(res);
}

/** A body that is exactly `{"error": <non-empty string>}`; returns the string. */
export function expectErrorEnvelope(res: LightMyRequestResponse, status: number): string {
  assert.equal(res.statusCode, status, `status ${res.statusCode}, body ${res.body}`);
  const b = body(res);
  assert.deepEqual(Object.keys(b), ['error'], `not the {"error": ...} envelope: ${res.body}`);
  assert.equal(typeof b.error, 'string');
  assert.ok((b.error as string).length > 0);
  if (status === 401) assert.equal(res.headers['www-authenticate'], WWW_AUTHENTICATE);
  return b.error as string;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A 200 body that is exactly {refresh, access}, both JWTs of the right type for `userId`. */
export function expectPair(res: LightMyRequestResponse, userId: number, status = 200): { refresh: string; access: string } {
  assert.equal(res.statusCode, status, `status ${res.statusCode}, body ${res.body}`);
  const b = body(res);
  assert.deepEqual(Object.keys(b).sort(), ['access', 'refresh']);
  const { refresh, access } = b as { refresh: string; access: string };
  expectToken(refresh, 'refresh', userId);
  expectToken(access, 'access', userId);
  return { refresh, access };
}

/** A 200 body that is exactly {access}, an access token for `userId`. */
export function expectAccessOnly(res: LightMyRequestResponse, userId: number): string {
  assert.equal(res.statusCode, 200, `status ${res.statusCode}, body ${res.body}`);
  const b = body(res);
  assert.deepEqual(Object.keys(b), ['access']);
  expectToken(b.access as string, 'access', userId);
  return b.access as string;
}

export function expectToken(token: string, type: 'access' | 'refresh', userId: number): void {
  assert.equal(typeof token, 'string');
  assert.match(token, JWT);
  const c = claimsOf(token);
  assert.equal(c.token_type, type);
  assert.equal(c.user_id, userId);
}

/** Form-encodes a flat object. */
export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
export const JSON_CT = { 'content-type': 'application/json' };
