// Request body parsers, as DRF's: JSON (in UTF-8, strictly), form-encoded and multipart forms
// (their fields only: a file part is discarded). An empty body is an
// empty object (DRF then reports the missing fields). `__proto__` and
// `constructor.prototype` keys are dropped, and nesting is bounded before
// parsing so a deeply nested body is refused cheaply.
import type { FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { Busboy } from '@fastify/busboy';
import sjson from 'secure-json-parse';
import { ApiError } from '../errors.js';

/** UTF-8 as DRF's JSON parser reads it: an invalid byte sequence is a parse error, not U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 32;

/** True if the JSON text nests deeper than `max`; strings are skipped. */
export function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

export async function registerParsers(app: FastifyInstance, bodyLimit: number): Promise<void> {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(
    // application/json and any +json type, with or without parameters.
    /^application\/([\w.-]+\+)?json(\s*;.*)?$/i,
    { parseAs: 'buffer', bodyLimit },
    (_req, raw, done) => {
      let body: string;
      try {
        body = utf8.decode(raw as Buffer);
      } catch {
        return done(new ApiError('parse_error', 'JSON parse error - the body is not valid UTF-8'));
      }
      if (body.trim() === '') return done(null, {});
      if (exceedsDepth(body, MAX_JSON_DEPTH)) {
        return done(new ApiError('parse_error', `JSON parse error - nesting deeper than ${MAX_JSON_DEPTH} levels`));
      }
      try {
        done(null, sjson.parse(body, undefined, { protoAction: 'remove', constructorAction: 'remove' }));
      } catch (err) {
        done(new ApiError('parse_error', `JSON parse error - ${(err as Error).message}`));
      }
    },
  );
  await app.register(formbody, { bodyLimit });
  app.addContentTypeParser('multipart/form-data', { bodyLimit }, (req, payload, done) => {
    const fields: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    let settled = false;
    const finish = (err: Error | null, body?: unknown) => {
      if (settled) return;
      settled = true;
      done(err, body);
    };
    let bb;
    try {
      bb = Busboy({
        headers: req.headers as { 'content-type': string },
        limits: { fields: MAX_FORM_FIELDS, fieldSize: bodyLimit, files: MAX_FORM_FIELDS, parts: 2 * MAX_FORM_FIELDS },
      });
    } catch (err) {
      return finish(new ApiError('parse_error', `Multipart form parse error - ${(err as Error).message}`));
    }
    bb.on('field', (name, value) => {
      if (name === '__proto__' || name === 'constructor') return;
      const had = fields[name];
      fields[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    });
    bb.on('file', (_name, stream) => stream.resume());
    bb.on('finish', () => finish(null, { ...fields }));
    bb.on('error', (err) => finish(new ApiError('parse_error', `Multipart form parse error - ${(err as Error).message}`)));
    payload.pipe(bb);
  });
}

/** Most fields a multipart form may carry (its files are discarded). */
const MAX_FORM_FIELDS = 100;
