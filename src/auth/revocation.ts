import { chatsOfSessions, forgetSessionChats } from '../chats/queries';
import { chatRoom } from '../chats/room';
import type { Db } from '../db/client';

/**
 * Called after sessions are revoked: every chat those sessions authorized (session_chats) closes
 * their sockets and drops their unused strings. One chat failing does not stop the others; it is
 * logged and keeps its rows. Its unused strings still cannot connect: the object checks that the
 * session is live in KV before accepting a socket.
 */
export async function onSessionsRevoked({ db, env }: { db: Db; env: Env }, sessionIds: string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  const chats = await chatsOfSessions(db, sessionIds);
  await Promise.all(
    [...chats].map(async ([chatId, ids]) => {
      try {
        const closed = await chatRoom(env, chatId).closeSessions(ids);
        if (!closed.ok) throw new Error(closed.msg);
        await forgetSessionChats(db, chatId, ids);
      } catch (err) {
        console.error(JSON.stringify({ msg: 'closing revoked sockets failed', chat_id: chatId, error: String(err) }));
      }
    }),
  );
}
