import { getDb } from '../db/client';
import { findChat } from './queries';

/** The chat's Durable Object (one per chat, named by the chat id). */
export const chatRoom = (env: Env, chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));

/**
 * Stores a system or agent message in a chat and broadcasts it to the chat's open sockets, with
 * the next `seq`. Throws if the chat does not exist (D1 is checked first, so a deleted chat's
 * object is never woken) or the content is empty or over MESSAGE_MAX_BYTES.
 */
export async function postToChat(
  env: Env,
  chatId: string,
  m: { senderId: string; role: 'system' | 'agent'; content: string },
): Promise<{ message_id: string; seq: number }> {
  if (!(await findChat(getDb(env), chatId))) throw new Error(`Chat not found: ${chatId}`);
  const result = await chatRoom(env, chatId).post(chatId, { senderId: m.senderId, role: m.role, content: m.content });
  if ('error' in result) throw new Error(`postToChat failed: ${result.error}`);
  return result;
}
