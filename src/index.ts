import { app } from './app';
import { scheduled } from './cron';

export { ChatRoom } from './durable/chat-room';

export default {
  fetch: app.fetch,
  scheduled,
} satisfies ExportedHandler<Env>;
