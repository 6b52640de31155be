CREATE TABLE `approvals` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`title` text NOT NULL,
	`description` text,
	`payload` text,
	`status` text NOT NULL,
	`reason` text,
	`run_id` text,
	`chat_id` text,
	`call_id` text,
	`tool` text,
	`arguments` text,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`decided_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `approvals_user_created_idx` ON `approvals` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `approvals_user_status_idx` ON `approvals` (`user_id`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `approvals_pending_expiry_idx` ON `approvals` (`expires_at`) WHERE "approvals"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX `approvals_run_call_idx` ON `approvals` (`run_id`,`call_id`) WHERE "approvals"."run_id" IS NOT NULL;--> statement-breakpoint
CREATE TABLE `mcp_server_logs` (
	`id` text PRIMARY KEY NOT NULL,
	`server_id` text NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`message` text NOT NULL,
	FOREIGN KEY (`server_id`) REFERENCES `mcp_servers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `mcp_server_logs_server_idx` ON `mcp_server_logs` (`server_id`,`at`,`id`);--> statement-breakpoint
CREATE TABLE `mcp_servers` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`url` text NOT NULL,
	`headers_enc` text,
	`header_names` text DEFAULT '[]' NOT NULL,
	`status` text NOT NULL,
	`capabilities` text,
	`tools` text DEFAULT '[]' NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `mcp_servers_user_slug_idx` ON `mcp_servers` (`user_id`,`slug`);--> statement-breakpoint
CREATE INDEX `mcp_servers_user_created_idx` ON `mcp_servers` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `memories` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`content` text NOT NULL,
	`category` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `memories_user_agent_idx` ON `memories` (`user_id`,`agent_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `memories_user_agent_category_idx` ON `memories` (`user_id`,`agent_id`,`category`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `run_tool_calls` (
	`run_id` text NOT NULL,
	`call_id` text NOT NULL,
	`user_id` text NOT NULL,
	`step` integer NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`arguments` text NOT NULL,
	`status` text NOT NULL,
	`output` text,
	`error` text,
	`approval_id` text,
	`created_at` integer NOT NULL,
	`finished_at` integer,
	PRIMARY KEY(`run_id`, `call_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `parent_run_id` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `depth` integer DEFAULT 0 NOT NULL;