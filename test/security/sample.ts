/** Minimal valid values from the OpenAPI document's JSON Schemas (the same zod schemas that validate). */
type Schema = Record<string, any>;

export interface OpenApiDoc {
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, Schema> };
}

export function resolve(doc: OpenApiDoc, s: Schema | undefined): Schema {
  if (!s) return {};
  if (s.$ref) return resolve(doc, doc.components?.schemas?.[s.$ref.split('/').pop()!]);
  return s;
}

/** A value that satisfies `schema`, with `overrides` for properties named like fixture ids. */
export function sample(doc: OpenApiDoc, schema: Schema | undefined, overrides: Record<string, unknown> = {}): unknown {
  const s = resolve(doc, schema);
  const options = s.anyOf ?? s.oneOf;
  if (options) return sample(doc, options.find((o: Schema) => resolve(doc, o).type !== 'null') ?? options[0], overrides);
  if (s.allOf) return Object.assign({}, ...s.allOf.map((o: Schema) => sample(doc, o, overrides)));
  if ('const' in s) return s.const;
  if (s.enum) return s.enum[0];
  if ('default' in s) return s.default;
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries<Schema>(s.properties ?? {})) {
        if (k in overrides) out[k] = overrides[k];
        else if ((s.required ?? []).includes(k)) out[k] = sample(doc, v, overrides);
      }
      return out;
    }
    case 'array':
      return s.minItems ? [sample(doc, s.items, overrides)] : [];
    case 'integer':
    case 'number':
      return Math.max(s.minimum ?? 1, s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return true;
    case 'string':
      if (s.format === 'email') return 'sample@example.com';
      if (s.format === 'date-time') return new Date(Date.now() + 86400_000).toISOString();
      if (s.format === 'uri' || s.format === 'url') return 'https://example.com/hook';
      return 'x'.repeat(Math.max(1, s.minLength ?? 1));
    default:
      return {};
  }
}

/** The operation for a route, and its JSON request body schema. */
export function operation(doc: OpenApiDoc, method: string, path: string) {
  const op = doc.paths[path]?.[method.toLowerCase()];
  return { op, bodySchema: op?.requestBody?.content?.['application/json']?.schema as Schema | undefined };
}
