import { createMiddleware } from 'hono/factory';
import { bodyLimit } from 'hono/body-limit';
import { config } from '../config';
import { missingJson, payloadTooLarge } from '../errors';
import type { AppEnv } from '../types';
import { unknownFieldError } from '../unknown-fields';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
// Decodes like Request.text() (UTF-8, BOM dropped, bad bytes replaced), without workerd's
// "Called .text() on an HTTP body which does not appear to be text" warning for other types.
const utf8 = new TextDecoder();

/**
 * Runs before schema validation on every route with a JSON body: caps it at JSON_MAX_BYTES (413)
 * and answers 400 `Missing JSON in request` when it is absent, not JSON, unparsable or not an
 * object (Hono's validator would pass `{}` for a missing content type). An optional body may be
 * absent; a present but broken one is still a 400. Then `unknownFields` (given on our own routes,
 * src/lib/router.ts) names the fields the route does not know: 400 `unknown_field`. The body
 * stays in Hono's body cache for the validator.
 */
export const jsonBody = (optional: boolean, unknownFields?: (body: object) => string[]) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const limit = bodyLimit({ maxSize: config(c.env).jsonMaxBytes, onError: () => { throw payloadTooLarge(); } });
    return limit(c, async () => {
      const type = c.req.header('content-type') ?? '';
      const text = c.req.raw.body ? utf8.decode(await c.req.arrayBuffer()) : '';
      if (text.trim() === '' && optional && !JSON_TYPE.test(type)) return next();
      if (!JSON_TYPE.test(type)) throw missingJson();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw missingJson();
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw missingJson();
      const unknown = unknownFields?.(parsed) ?? [];
      if (unknown.length) throw unknownFieldError(unknown);
      await next();
    });
  });
