import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, depsOf, errorResponse, jsonRequest, okJson } from '../lib/router';
import { Approval, approvalJson, approvalParams, createApprovalBody, decideApprovalBody, listApprovalsQuery, PAYLOAD_ERROR, STATUS_ERROR } from './schemas';
import { ALREADY_DECIDED, APPROVAL_NOT_FOUND, approvalTimeout, decideApproval, listApprovals, ownApproval, raiseApproval } from './service';

const One = z.object({ approval: Approval });

/** approve and reject differ only in the state they set. */
const decisionRoute = (verb: 'approve' | 'reject', status: 'approved' | 'rejected') =>
  defineRoute('bearer', {
    method: 'post',
    path: `/approvals/{approval_id}/${verb}`,
    tags: ['Approvals'],
    summary: verb === 'approve' ? 'Approve a pending approval' : 'Reject a pending approval',
    operationId: `${verb}Approval`,
    description: `Moves a pending approval to \`${status}\`, with an optional \`reason\` (the body may be left out). The decision is one compare-and-set: of two decisions, exactly one wins and the other is 409 \`approval_decided\` (\`Approval is already approved\`, \`rejected\` or \`expired\`); a pending approval past its \`expires_at\` is marked \`expired\` and answers the same 409. ${
      verb === 'approve' ? 'For an agent run\'s tool call, the run then runs the tool.' : 'For an agent run\'s tool call, the run then tells the model the call was refused.'
    } Another user's or an unknown approval is 404 \`Approval not found\`.`,
    request: { params: approvalParams, body: jsonRequest(decideApprovalBody, false) },
    responses: {
      200: okJson(One),
      400: errorResponse('Missing JSON in request', 'reason must be at most 2000 characters'),
      404: errorResponse(APPROVAL_NOT_FOUND),
      409: errorResponse(ALREADY_DECIDED),
    },
  });

export const approvalRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/approvals',
      tags: ['Approvals'],
      summary: 'Raise an approval request for yourself',
      operationId: 'createApproval',
      description:
        'Creates a pending approval owned by the signed-in user: `title` (1 to 200 characters), an optional `description` (up to 2000) and an optional `payload` (any JSON up to 16 KiB). It expires `APPROVAL_TIMEOUT_SECONDS` after it was raised (`expires_at`) unless approved or rejected first.',
      request: { body: jsonRequest(createApprovalBody) },
      responses: {
        201: okJson(One),
        400: errorResponse('Missing JSON in request', 'Missing title parameter', 'title must be at most 200 characters', PAYLOAD_ERROR),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const row = await raiseApproval(c.get('db'), c.get('user').id, c.req.valid('json'), approvalTimeout(c.env));
      return c.json({ approval: approvalJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/approvals',
      tags: ['Approvals'],
      summary: 'Your approvals: pending first, then newest first',
      operationId: 'listApprovals',
      description:
        'The signed-in user\'s approvals, the pending ones first, then the decided ones (approved, rejected, expired), each group newest first; `status` keeps one state. `limit` and `cursor` as every list (the cursor carries the group, so paging never skips or repeats a row that stays in its state).',
      request: { query: listApprovalsQuery },
      responses: {
        200: okJson(z.object({ approvals: z.array(Approval), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', STATUS_ERROR),
      },
    }),
    async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = await listApprovals(c.get('db'), c.get('user').id, status, limit, cursor);
      return c.json({ approvals: items.map(approvalJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/approvals/{approval_id}',
      tags: ['Approvals'],
      summary: 'One approval',
      operationId: 'getApproval',
      description: 'One of your approvals; a run-linked one carries its `run_id`, `call_id`, `tool` and `arguments`. Another user\'s or an unknown approval is 404 `Approval not found`.',
      request: { params: approvalParams },
      responses: { 200: okJson(One), 404: errorResponse(APPROVAL_NOT_FOUND) },
    }),
    async (c) => c.json({ approval: approvalJson(await ownApproval(c.get('db'), c.get('user').id, c.req.valid('param').approval_id)) }, 200),
  )
  .openapi(decisionRoute('approve', 'approved'), async (c) => {
    const row = await decideApproval(depsOf(c), c.get('user').id, c.req.valid('param').approval_id, 'approved', c.req.valid('json')?.reason ?? null);
    return c.json({ approval: approvalJson(row) }, 200);
  })
  .openapi(decisionRoute('reject', 'rejected'), async (c) => {
    const row = await decideApproval(depsOf(c), c.get('user').id, c.req.valid('param').approval_id, 'rejected', c.req.valid('json')?.reason ?? null);
    return c.json({ approval: approvalJson(row) }, 200);
  });
