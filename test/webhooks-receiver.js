// An auxiliary worker (see vitest.config.ts): a real HTTP receiver for webhook tests. The Worker
// under test has this worker as its outbound service, so its fetch() calls land here. Requests to
// /hook/<key> are recorded and answered (?status=, ?delay= ms, ?location= for a redirect); the
// tests read them back through the WEBHOOK_RECEIVER service binding at /_received/<key>. Anything
// else passes through to the network unchanged.
const received = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const read = /^\/_received\/([\w-]+)$/.exec(url.pathname);
    if (read) return Response.json(received.get(read[1]) ?? []);
    const hook = /^\/hook\/([\w-]+)$/.exec(url.pathname);
    if (!hook) return fetch(request);
    const entry = { method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() };
    received.set(hook[1], [...(received.get(hook[1]) ?? []), entry]);
    const delay = Number(url.searchParams.get('delay') ?? 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const location = url.searchParams.get('location');
    const status = Number(url.searchParams.get('status') ?? (location ? 302 : 200));
    return new Response('received', { status, headers: location ? { location } : {} });
  },
};
