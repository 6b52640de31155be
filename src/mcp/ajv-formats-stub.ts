/** Stands in for `ajv-formats` (see ajv-stub.ts): never called, since ajv is never used. */
export default function addFormats(): never {
  throw new Error('ajv-formats is not bundled (wrangler.toml [alias]): MCP clients use the cfworker JSON Schema validator');
}
