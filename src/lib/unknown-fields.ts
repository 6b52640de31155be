import { z } from '@hono/zod-openapi';
import { ApiError } from './errors';

/**
 * Unknown fields in a JSON body (docs/conventions.md, "Request bodies"): found by walking the
 * route's zod schema together with the parsed body, so a typo is refused instead of dropped.
 * Free-form JSON (unknown, any, records of those) takes anything; a field the route's own
 * success resource carries (ids, timestamps) is ignored, so a client can send back what it read.
 */

type Schema = z.ZodType;
type Def = { type: string } & Record<string, any>;
const defOf = (s: Schema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isZod = (s: unknown): s is Schema => typeof s === 'object' && s !== null && '_zod' in s;

const declared = new WeakMap<object, Schema>();
const UNKNOWN = z.unknown();

/**
 * For a schema that takes any object and re-validates it itself (a record with a refinement,
 * such as a process's task template): check its fields as `as` does. Returns `schema`.
 */
export function checkFieldsAs<T extends Schema>(schema: T, as: Schema): T {
  declared.set(schema, as);
  return schema;
}

/** Through the wrappers (optional, default, pipe, ...) to the schema that decides a value's keys. */
function unwrap(schema: Schema): Schema {
  let s = schema;
  for (let depth = 0; depth < 64; depth++) {
    const as = declared.get(s);
    const d = defOf(s);
    if (as) s = as;
    else if (d.type === 'lazy') s = d.getter();
    // A pipe takes what its input takes; a preprocess's input is a transform: free-form.
    else if (d.type === 'pipe') s = d.in;
    else if (d.innerType) s = d.innerType;
    else return s;
  }
  return s;
}

const SCALARS = ['string', 'number', 'int', 'boolean', 'bigint', 'null', 'undefined', 'void', 'enum', 'literal', 'nan', 'template_literal', 'date', 'never', 'symbol', 'file'];

/** Can this schema take a value of this JSON kind at all? Union branches that cannot are skipped. */
function mayTake(schema: Schema, value: unknown): boolean {
  const t = defOf(unwrap(schema)).type;
  if (t === 'object' || t === 'record') return isObject(value);
  if (t === 'array' || t === 'tuple') return Array.isArray(value);
  return !SCALARS.includes(t);
}

/** The schemas of `echo` (the success resource) at `key`, or at an array's items when key is null. */
function echoAt(echo: Schema[], key: string | null): Schema[] {
  const out: Schema[] = [];
  for (const e of echo) {
    const d = defOf(unwrap(e));
    if (d.type === 'union') out.push(...echoAt(d.options, key));
    else if (d.type === 'intersection') out.push(...echoAt([d.left, d.right], key));
    else if (key === null && d.type === 'array') out.push(d.element);
    else if (key !== null && d.type === 'object' && has(d.shape, key)) out.push(d.shape[key]);
  }
  return out;
}

/** Fields unknown in every candidate: a field is known if any branch knows it. */
const common = (lists: string[][]) => lists.reduce((a, b) => {
  const inB = new Set(b);
  return a.filter((f) => inB.has(f));
});

function walk(schema: Schema, echo: Schema[], value: unknown, path: string[]): string[] {
  const d = defOf(unwrap(schema));
  const at = (k: string | number) => [...path, String(k)];
  switch (d.type) {
    case 'object': {
      if (!isObject(value)) return [];
      const rest = d.catchall && defOf(d.catchall).type !== 'never' ? (d.catchall as Schema) : null;
      return Object.entries(value).flatMap(([k, v]) => {
        const field = has(d.shape, k) ? (d.shape[k] as Schema) : rest;
        if (field) return walk(field, echoAt(echo, k), v, at(k));
        return echoAt(echo, k).length ? [] : [at(k).join('.')];
      });
    }
    case 'record':
      return isObject(value) ? Object.entries(value).flatMap(([k, v]) => walk(d.valueType, [], v, at(k))) : [];
    case 'array':
      return Array.isArray(value) ? value.flatMap((v, i) => walk(d.element, echoAt(echo, null), v, at(i))) : [];
    case 'tuple':
      return Array.isArray(value) ? value.flatMap((v, i) => walk(d.items[i] ?? d.rest ?? UNKNOWN, [], v, at(i))) : [];
    case 'intersection':
      return common([walk(d.left, echo, value, path), walk(d.right, echo, value, path)]);
    case 'union': {
      let options = (d.options as Schema[]).filter((o) => mayTake(o, value));
      // A discriminated union: only the branches the discriminator picks, when it picks any.
      if (d.discriminator && isObject(value)) {
        const picked = options.filter((o) => {
          const u = defOf(unwrap(o));
          const tag: Schema | undefined = u.type === 'object' ? u.shape[d.discriminator] : undefined;
          return tag?.safeParse(value[d.discriminator]).success;
        });
        if (picked.length) options = picked;
      }
      return options.length ? common(options.map((o) => walk(o, echo, value, path))) : [];
    }
    default:
      return [];
  }
}

/** Dotted paths (`action.config_typo`, `items.0.x`) of the fields of `body` that `schema` does not know. */
export function unknownFields(schema: Schema, body: unknown, echo: Schema[] = []): string[] {
  return walk(schema, echo, body, []);
}

/**
 * The resource a route answers with (`task` of `{task: ...}`): the object-valued properties of
 * its first 2xx JSON response. Their fields are what a client may send back unchanged.
 */
export function successResources(responses: Record<string, any> | undefined): Schema[] {
  const status = Object.keys(responses ?? {}).filter((s) => /^2\d\d$/.test(s)).sort()[0];
  const schema = status ? responses?.[status]?.content?.['application/json']?.schema : undefined;
  const d = isZod(schema) ? defOf(unwrap(schema)) : null;
  if (d?.type !== 'object') return [];
  return Object.values<Schema>(d.shape).filter((p) => defOf(unwrap(p)).type === 'object');
}

/** The unknown-field check for a route's JSON body schema (none when it is not a zod schema). */
export function fieldCheck(schema: unknown, responses: Record<string, any> | undefined): ((body: object) => string[]) | undefined {
  if (!isZod(schema)) return undefined;
  const echo = successResources(responses);
  return (body) => unknownFields(schema, body, echo);
}

const MSG_FIELDS = 5;

/** 400 `unknown_field`: `msg` names them (the first few), `fields` lists them all. */
export function unknownFieldError(fields: string[]): ApiError {
  const named = fields.slice(0, MSG_FIELDS).join(', ') + (fields.length > MSG_FIELDS ? ', ...' : '');
  return new ApiError(400, 'unknown_field', `Unknown field${fields.length > 1 ? 's' : ''}: ${named}`, { fields });
}
