/**
 * Stands in for `ajv` in the bundle (wrangler.toml [alias]). The MCP SDK imports
 * ajv for its default JSON Schema validator, which compiles schemas with `eval`, refused by
 * workerd; src/mcp/connect.ts gives the client the cfworker validator instead, so ajv is never
 * used, and aliasing it away saves ~57 KB gzip. Constructing it says so rather than failing oddly.
 */
const refuse = (): never => {
  throw new Error('ajv is not bundled (wrangler.toml [alias]): MCP clients use the cfworker JSON Schema validator');
};
class Ajv {
  constructor() {
    refuse();
  }
}
export { Ajv };
export default Ajv;
