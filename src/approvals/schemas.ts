import { z } from '@hono/zod-openapi';
import { approvals } from '../db/schema';
import { pageQuery } from '../lib/pagination';
import { requiredString } from '../lib/router';
import { iso, isoOrNull } from '../lib/time';
import type { ApprovalRow } from './queries';

/** The approvals area's request and response schemas, and its one serializer. */

export const APPROVAL_STATUSES = approvals.status.enumValues;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];
export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 2000;
export const REASON_MAX = 2000;
export const PAYLOAD_MAX_BYTES = 16 * 1024;
export const STATUS_ERROR = `status must be one of ${APPROVAL_STATUSES.join(', ')}`;
export const PAYLOAD_ERROR = `payload must be at most ${PAYLOAD_MAX_BYTES} bytes when serialized as JSON`;

const EXAMPLE_ID = '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e';
const byteLength = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

export const createApprovalBody = z
  .object({
    title: requiredString('Missing title parameter').max(TITLE_MAX, { error: `title must be at most ${TITLE_MAX} characters` }),
    description: z
      .string({ error: 'description must be a string' })
      .max(DESCRIPTION_MAX, { error: `description must be at most ${DESCRIPTION_MAX} characters` })
      .nullable()
      .optional(),
    payload: z
      .unknown()
      .refine((v) => v === undefined || byteLength(v) <= PAYLOAD_MAX_BYTES, { error: PAYLOAD_ERROR })
      .optional()
      .openapi({ description: `Any JSON value, at most ${PAYLOAD_MAX_BYTES} bytes serialized: what the approver needs to decide` }),
  })
  .openapi('CreateApproval', {
    example: { title: 'Publish the Q3 report', description: 'The draft is in the shared workspace.', payload: { report: 'q3.pdf', audience: 'board' } },
  });
export type CreateApprovalInput = z.infer<typeof createApprovalBody>;

export const decideApprovalBody = z
  .object({
    reason: z
      .string({ error: 'reason must be a string' })
      .max(REASON_MAX, { error: `reason must be at most ${REASON_MAX} characters` })
      .nullable()
      .optional()
      .openapi({ description: 'Why; shown on the approval (and, for a tool call, to the model when rejected)' }),
  })
  .openapi('DecideApproval', { example: { reason: 'Looks right.' } });

export const listApprovalsQuery = pageQuery.extend({
  status: z
    .enum(APPROVAL_STATUSES, { error: STATUS_ERROR })
    .optional()
    .openapi({ param: { name: 'status', in: 'query' }, example: 'pending', description: 'Only approvals in this state' }),
});

export const approvalParams = z.object({
  approval_id: z.string().openapi({ param: { name: 'approval_id', in: 'path' }, example: EXAMPLE_ID }),
});

export const Approval = z
  .object({
    approval_id: z.string(),
    title: z.string(),
    description: z.string().nullable(),
    payload: z.unknown().openapi({ description: 'The JSON sent when it was raised; null if none' }),
    status: z
      .enum(APPROVAL_STATUSES)
      .openapi({ description: '`pending` until approved, rejected or expired (APPROVAL_TIMEOUT_SECONDS after it was raised); the three others are final' }),
    reason: z.string().nullable().openapi({ description: 'The reason given with the decision' }),
    run_id: z.string().nullable().openapi({ description: "The agent run waiting on it, for a tool call marked `requires_approval`; null for one you raised" }),
    call_id: z.string().nullable().openapi({ description: "The run's tool call it holds" }),
    tool: z.string().nullable().openapi({ description: 'The tool the call names' }),
    arguments: z.unknown().openapi({ description: "The call's arguments (JSON); null for one you raised" }),
    created_at: z.string().openapi({ format: 'date-time' }),
    expires_at: z.string().nullable().openapi({ format: 'date-time', description: 'A pending approval past this becomes `expired`' }),
    decided_at: z.string().nullable().openapi({ format: 'date-time', description: 'When it was approved, rejected or expired' }),
  })
  .openapi('Approval', {
    example: {
      approval_id: EXAMPLE_ID,
      title: 'Run send_email',
      description: null,
      payload: null,
      status: 'pending',
      reason: null,
      run_id: '0198f3a2-9b10-7c3d-8e4f-5a6b7c8d9e0f',
      call_id: 'call_1',
      tool: 'send_email',
      arguments: { to: 'board@example.com' },
      created_at: '2027-03-01T09:30:00.000Z',
      expires_at: '2027-03-01T10:30:00.000Z',
      decided_at: null,
    },
  });

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** The API's view of an approval row: ISO times, JSON parsed, nulls where none. */
export const approvalJson = (r: ApprovalRow): z.infer<typeof Approval> => ({
  approval_id: r.id,
  title: r.title,
  description: r.description,
  payload: parseJson(r.payload),
  status: r.status,
  reason: r.reason,
  run_id: r.runId,
  call_id: r.callId,
  tool: r.tool,
  arguments: parseJson(r.arguments),
  created_at: iso(r.createdAt),
  expires_at: isoOrNull(r.expiresAt),
  decided_at: isoOrNull(r.decidedAt),
});
