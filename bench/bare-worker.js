// The HTTP baseline: a Worker that answers every request with one constant JSON body, shaped
// like GET /workspace's, so the comparison isolates our path (JWT, session, D1) from the runtime.
const BODY = JSON.stringify({
  workspaces: [
    {
      workspace_id: '01936f0e-0000-7000-8000-000000000000',
      name: 'bench',
      owner: '01936f0e-0000-7000-8000-000000000001',
      created_at: '2026-01-01T00:00:00.000Z',
      agents: [],
    },
  ],
  next_cursor: null,
});

export default {
  fetch() {
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
