import { describe, expect, it } from 'vitest';
import { routeTable } from './route-table';

describe('route table', () => {
  it('declares an auth kind for every route, and only the kinds docs/conventions.md names', () => {
    const routes = routeTable();
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) expect(['public', 'bearer', 'connection-string', 'signed-link'], `${r.method} ${r.path}`).toContain(r.auth);
  });

  it('keeps public exactly to the routes docs/conventions.md lists', () => {
    const pub = routeTable().filter((r) => r.auth === 'public').map((r) => `${r.method} ${r.path}`).sort();
    expect(pub).toEqual(
      ['GET /docs', 'GET /health', 'GET /openapi.json', 'GET /ping', 'POST /auth/login', 'POST /auth/refresh', 'POST /register'].sort(),
    );
  });
});
