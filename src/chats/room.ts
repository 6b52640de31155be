import { getDb } from '../db/client';
import { type Failure, failureStatus, fail, type Result } from '../durable/protocol';
import { ApiError } from '../lib/errors';
import { findChat } from './queries';

/** The chat's Durable Object (one per chat, named by the chat id). */
export const chatRoom = (env: Env, chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));

/** The one place the object's refusals (RPC results and connect refusals) become HTTP errors. */
export const chatFailure = (f: Failure) => new ApiError(failureStatus(f), f.code, f.msg, f.var === undefined ? {} : { var: f.var });

/** An RPC result's success, or its failure thrown as an ApiError. */
export function unwrap<R extends { ok: boolean }>(result: R): Extract<R, { ok: true }> {
  if (!result.ok) throw chatFailure(result as unknown as Failure);
  return result as Extract<R, { ok: true }>;
}

/**
 * Stores a system or agent message in a chat and broadcasts it to the chat's open sockets, with
 * the next `seq`. D1 is checked first, so a deleted chat's object is never woken; the object
 * refuses empty content or content over MESSAGE_MAX_BYTES (`invalid_content`).
 */
export async function postToChat(
  env: Env,
  chatId: string,
  m: { senderId: string; role: 'system' | 'agent'; content: string },
): Promise<Result<{ message_id: string; seq: number }>> {
  if (!(await findChat(getDb(env), chatId))) return fail('chat_not_found');
  return chatRoom(env, chatId).post(chatId, { senderId: m.senderId, role: m.role, content: m.content });
}
