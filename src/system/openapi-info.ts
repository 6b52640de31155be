/**
 * The words of /openapi.json that no route carries: the document's description and one
 * description per tag. The WebSocket protocol has its own page, public/websocket.html (served
 * as /websocket), since OpenAPI cannot describe frames.
 */

export const PROTOCOL_PAGE = '/websocket';

export const API_DESCRIPTION = `Edge API for AI-agent workspaces: accounts, workspaces, agents and their packages, real-time chats, tasks, scheduled processes and files.

**Getting started.** \`POST /register\` with an email and a password, then \`POST /auth/login\`: copy its \`access_token\` into **Authorize** (top right). Every "Try it out" example is a valid request; paste the ids that earlier answers gave you (\`workspace_id\`, \`chat_id\`, ...) into the path and query fields. Access tokens last 15 minutes; \`POST /auth/refresh\` gives a new pair.

**Real-time chat.** Messages travel over a WebSocket (\`GET /chat/ws\`), which this page cannot show: its frames, close codes and error codes are on the [WebSocket protocol page](${PROTOCOL_PAGE}).

**Errors.** Every error body is \`{"msg", "code", "request_id"}\`: \`msg\` is for people, \`code\` (the \`Error\` schema's enum, each one explained in the repository's docs/errors.md) is for programs, \`request_id\` matches the \`X-Request-Id\` header. Validation errors add \`issues\` (\`[{"path", "message"}]\`, every problem at once). While a var or secret of the deployment does not parse, every route except \`/ping\` and \`/health\` answers 503 \`config_invalid\` with \`var\` naming it.

**Conventions.** Lists take \`limit\` (1 to 100, default 50) and an opaque \`cursor\` and answer \`next_cursor\` (null on the last page), newest first. Ids are UUIDv7 strings; a malformed id answers like an unknown one. Another user's resource is a 404 on our routes. Every response carries \`X-Request-Id\` and the rate-limit headers (\`X-RateLimit-Limit\`, \`-Remaining\`, \`-Reset\`); past the limit, 429 with \`Retry-After\`.

**The upstream contract.** Some routes (marked *upstream contract* below) existed before this service, and clients written for them must keep working: they keep the old paths, status codes, shapes and exact \`msg\` strings, odd ones included (creates answer 200, another user's chat is 401, \`Incorrect password.\` ends with a full stop). Unknown fields in their bodies are ignored.`;

/** Tag order is the order /docs shows them in. */
export const TAGS = [
  {
    name: 'Service',
    description: 'Liveness (`/ping`), readiness (`/health`: D1, KV, R2 and the config) and these docs. No token needed.',
  },
  {
    name: 'Accounts',
    description:
      'Register, log in, and manage sessions and the signed-in user. Login answers an access token (a 15-minute JWT, sent as `Authorization: Bearer ...`) and a refresh token (single use: each refresh answers a new pair; reusing an old one revokes the session). Logout, logout-all and change-password revoke sessions at once, and close their chat sockets.',
  },
  {
    name: 'Workspaces',
    description:
      'A workspace groups chats, tasks, processes and files, and lists the agents working in it. Deleting one deletes everything in it. These routes follow the upstream contract: creates answer 200, and another user\'s workspace answers 403 with the contract\'s strings.',
  },
  {
    name: 'Chats',
    description: `Chats live in a workspace; their messages travel over a WebSocket. To chat: \`GET /chat/authorize\` for a one-use connection string, open \`GET /chat/ws\` with it, and send each message with a message string (\`GET /chat/authorize/message\` for the first; every ack carries the next). The frames, close codes and error codes are on the [WebSocket protocol page](${PROTOCOL_PAGE}). \`GET /chat/messages\` reads the history over HTTP. The routes of the upstream contract answer another user's chat with 401 \`User is not the owner of the chat\`.`,
  },
  {
    name: 'Agents',
    description:
      'Your agents: create one with `POST /agents`, or install a package from the registry with `GET /agent/download` (one per package; a newer install replaces it in place); start and stop them, and add them to a workspace under Workspaces. Every agent answers the same `{"agent": ...}` shape; deleting one is final for every route.',
  },
  {
    name: 'Runs',
    description:
      "A run is one answer of one agent in one chat, executed by the chat's object: `queued` and `running` while live (the agent then reports `running`), then `completed`, `failed` (with `error.code`) or `cancelled`. These routes read them: status, model, token usage and timings. A run the chat's object could not finish is marked failed `run_interrupted`.",
  },
  {
    name: 'Costs',
    description:
      'What your agents spend, in USD from a ledger of every model call (tokens times the `MODEL_PRICES` of its model; a model without a price counts 0 and is flagged unpriced): a summary, a day-by-day view and breakdowns by agent and by model, in UTC. Your budget caps a calendar month (UTC) and records each alert threshold once a month; the operator\'s ceiling applies to every user whatever their budget says. Past either, runs are refused with 402 `budget_exceeded`.',
  },
  {
    name: 'Memories',
    description:
      'What an agent keeps of you across all your chats with it: short notes (`content`, a `category`), per agent and per user. The newest go into the agent\'s prompt within `MEMORY_PROMPT_MAX_BYTES`; the agent keeps and searches them itself with its `remember` and `recall` tools. Another user\'s agent or memory is 404.',
  },
  {
    name: 'Agent packages',
    description:
      'The public package registry: any signed-in user reads every package; the first publisher of a name owns it. A package is a zip archive (at most 10 MiB) with `agent.json` at its root (`name`, `version`, `description`, `system_prompt`, `model`, `tools`).',
  },
  {
    name: 'Approvals',
    description:
      'A human approval queue: requests you raise for yourself (`POST /approvals`), and the ones an agent run raises for a tool call marked `requires_approval` (with `run_id`, `call_id`, `tool` and `arguments`). Each is `pending` until approved, rejected (each with an optional `reason`) or expired (`APPROVAL_TIMEOUT_SECONDS`); the decision happens once, and a second one is 409 `approval_decided`.',
  },
  {
    name: 'Tasks',
    description:
      'Tasks with a status, a priority, a due date, tags and free-form `data`, optionally in a workspace and assigned to an agent. Status moves follow a fixed table (`cancelled` is final); a refused move is 409 `invalid_status_transition`.',
  },
  {
    name: 'Processes',
    description:
      'Automations: a `manual` or `time_based` trigger (a 5-field cron schedule in an IANA time zone, checked every minute) runs an action: create a task, post a message to a chat, or call a webhook (signed as Standard Webhooks says; its secret is shown once, when created).',
  },
  {
    name: 'Files',
    description:
      'Files up to 95 MiB in R2, optionally attached to a task or a workspace. Upload as multipart (`POST`) or as a raw body (`PUT`); download with a token, or through a signed link that needs none.',
  },
  {
    name: 'MCP servers',
    description:
      'Remote MCP servers whose tools your agents use (as `mcp:<slug>:<tool>`), reached over MCP\'s Streamable HTTP transport: a Worker cannot start processes, so `config.command` is refused. Start connects, initializes and lists the tools; stop withdraws them; restart lists them again; logs keep connection events and tool calls. Header values are secrets: encrypted at rest, never returned.',
  },
];
