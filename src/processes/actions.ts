import { z } from '@hono/zod-openapi';
import type { ProcessRow } from './queries';
import { postToChat } from '../chats/room';
import { config } from '../lib/config';
import { ApiError } from '../lib/errors';
import { requiredString } from '../lib/router';
import { iso } from '../lib/time';
import { checkFieldsAs } from '../lib/unknown-fields';
import type { Db } from '../db/client';
import { createTask } from '../tasks/service';
import { createTaskBody } from '../tasks/schemas';
import { ownChat } from '../chats/service';
import { callWebhook } from './webhook';

const URL_MAX = 2048;
const TASK_FIELDS = Object.keys(createTaskBody.shape);

/**
 * A task body as POST /tasks takes it, validated by the same schema but stored as sent (known
 * fields only): it is parsed again on every run, so dates and defaults mean what they mean then.
 */
const taskTemplate = z
  .record(z.string(), z.unknown(), { error: 'Missing task parameter' })
  .superRefine((value, ctx) => {
    const parsed = createTaskBody.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  })
  .transform((value) => Object.fromEntries(Object.entries(value).filter(([k]) => TASK_FIELDS.includes(k))))
  .openapi({ description: 'A task body as POST /tasks takes it', allOf: [{ $ref: '#/components/schemas/CreateTask' }] });

export const actionSchema = z
  .discriminatedUnion(
    'type',
    [
      // Its fields are checked as POST /tasks checks them: a typo is refused, not dropped.
      z.object({ type: z.literal('create_task'), task: checkFieldsAs(taskTemplate, createTaskBody) }),
      z.object({
        type: z.literal('post_message'),
        chat_id: requiredString('Missing chat_id parameter'),
        content: requiredString('Missing content parameter'),
      }),
      z.object({
        type: z.literal('webhook'),
        url: requiredString('Missing url parameter')
          .max(URL_MAX, { error: `url must be at most ${URL_MAX} characters` })
          .openapi({ format: 'uri', description: 'A public https URL; called with a Standard Webhooks signature' }),
      }),
    ],
    {
      error: (i) =>
        i.input === undefined ? 'Missing action parameter' : 'action.type must be one of create_task, post_message, webhook',
    },
  )
  .openapi('ProcessAction');
export type Action = z.output<typeof actionSchema>;

/** What runs, with everything it needs; the message is recorded on the execution. */
export interface ActionRun {
  env: Env;
  db: Db;
  process: ProcessRow;
  executionId: string;
  dueAt: number | null;
}

const failure = (err: unknown): string => {
  const text = err instanceof ApiError ? err.msg : err instanceof Error ? err.message : String(err);
  return text.slice(0, 1000);
};

async function perform({ env, db, process: p, executionId, dueAt }: ActionRun): Promise<string> {
  const action = JSON.parse(p.action) as Action;
  switch (action.type) {
    case 'create_task': {
      // Re-parsed at run time; a task without its own workspace lands in the process's.
      const body = createTaskBody.parse({ workspace_id: p.workspaceId ?? undefined, ...action.task });
      const task = await createTask(db, p.userId, body);
      return `Created task ${task.id}`;
    }
    case 'post_message': {
      // Checked at run time too: the chat may have been deleted or moved since.
      await ownChat(db, p.userId, action.chat_id);
      const posted = await postToChat(env, action.chat_id, { senderId: p.id, role: 'system', content: action.content });
      if (!posted.ok) throw new Error(posted.msg);
      return `Posted message ${posted.message_id} to chat ${action.chat_id}`;
    }
    case 'webhook': {
      if (!p.webhookSecret) throw new Error('Webhook secret missing');
      const cfg = config(env);
      return callWebhook({
        url: action.url,
        secret: p.webhookSecret,
        id: executionId,
        timeoutMs: cfg.webhookTimeoutMs,
        allowLoopback: cfg.outboundAllowLoopback,
        payload: {
          type: 'process.executed',
          timestamp: iso(Date.now()),
          data: { process_id: p.id, execution_id: executionId, name: p.name, due_at: dueAt === null ? null : iso(dueAt) },
        },
      });
    }
  }
}

/** Runs the action; never throws: a failure is an outcome with its error as the message. */
export async function runAction(run: ActionRun): Promise<{ status: 'success' | 'failed'; message: string }> {
  try {
    return { status: 'success', message: await perform(run) };
  } catch (err) {
    return { status: 'failed', message: failure(err) };
  }
}
