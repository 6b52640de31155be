import { createMiddleware } from 'hono/factory';
import { bodyLimit } from 'hono/body-limit';
import { config } from '../config';
import { missingJson, payloadTooLarge } from '../errors';
import type { AppEnv } from '../types';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Runs before schema validation on every route with a JSON body: caps it at JSON_MAX_BYTES (413)
 * and answers 400 `Missing JSON in request` when it is absent, not JSON, unparsable or not an
 * object (Hono's validator would pass `{}` for a missing content type). An optional body may be
 * absent; a present but broken one is still a 400. The parsed body stays in Hono's body cache.
 */
export const jsonBody = (optional: boolean) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const limit = bodyLimit({ maxSize: config(c.env).jsonMaxBytes, onError: () => { throw payloadTooLarge(); } });
    return limit(c, async () => {
      const type = c.req.header('content-type') ?? '';
      const text = c.req.raw.body ? await c.req.text() : '';
      if (text.trim() === '' && optional && !JSON_TYPE.test(type)) return next();
      if (!JSON_TYPE.test(type)) throw missingJson();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw missingJson();
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw missingJson();
      await next();
    });
  });
