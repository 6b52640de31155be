import { app } from '../../src/app';
import type { AuthKind } from '../../src/lib/router';

export interface RouteEntry {
  method: string;
  /** OpenAPI form: /workspace/{workspace_id} */
  path: string;
  auth: AuthKind;
  pathParams: string[];
  queryParams: { name: string; required: boolean }[];
  jsonBody: { required: boolean; schema: unknown } | null;
  bodyTypes: string[];
}

/** The app's own route table: every route registered through defineRoute, nothing hand-listed. */
export function routeTable(): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const r = def.route as any;
    const query = r.request?.query;
    const shape = query?.shape ?? query?._zod?.def?.shape ?? {};
    const content = r.request?.body?.content ?? {};
    routes.push({
      method: r.method.toUpperCase(),
      path: r.path,
      auth: r['x-auth'],
      pathParams: [...r.path.matchAll(/\{(\w+)\}/g)].map((m: RegExpMatchArray) => m[1]),
      queryParams: Object.entries<any>(shape).map(([name, s]) => ({ name, required: !s.safeParse(undefined).success })),
      jsonBody: content['application/json'] ? { required: !!r.request.body.required, schema: content['application/json'].schema } : null,
      bodyTypes: Object.keys(content),
    });
  }
  return routes;
}

export const label = (r: RouteEntry) => `${r.method} ${r.path}`;
