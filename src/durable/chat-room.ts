import { DurableObject } from 'cloudflare:workers';

/** One per chat: WebSocket fan-out, message storage and authorization strings (issue 3). */
export class ChatRoom extends DurableObject<Env> {
  /** Closes every socket and deletes all storage and the alarm; the object keeps a tombstone. */
  async destroy(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) ws.close(4404, 'Chat deleted');
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.put('tombstone', true);
  }
}
