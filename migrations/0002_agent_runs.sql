CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`chat_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`status` text NOT NULL,
	`trigger` text NOT NULL,
	`reply_to_seq` integer,
	`reply_message_id` text,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`input_tokens` integer,
	`output_tokens` integer,
	`finish_reason` text,
	`error_code` text,
	`error_msg` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`first_token_at` integer,
	`finished_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `runs_user_created_idx` ON `runs` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `runs_user_agent_idx` ON `runs` (`user_id`,`agent_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `runs_user_chat_idx` ON `runs` (`user_id`,`chat_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `runs_user_status_idx` ON `runs` (`user_id`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `runs_live_agent_idx` ON `runs` (`agent_id`) WHERE "runs"."status" IN ('queued', 'running');--> statement-breakpoint
CREATE INDEX `runs_live_updated_idx` ON `runs` (`updated_at`) WHERE "runs"."status" IN ('queued', 'running');--> statement-breakpoint
ALTER TABLE `chats` ADD `agent_id` text REFERENCES agents(id) ON DELETE SET NULL;