import type { Db } from '../lib/types';

/**
 * Called after sessions are revoked. The chat module closes the sockets those sessions opened
 * (it records which chats each session authorized).
 */
export async function onSessionsRevoked(_env: Env, _db: Db, _sessionIds: string[]): Promise<void> {}
