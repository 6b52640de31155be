CREATE TABLE `budget_alerts` (
	`user_id` text NOT NULL,
	`month` text NOT NULL,
	`threshold` real NOT NULL,
	`crossed_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `month`, `threshold`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `budgets` (
	`user_id` text PRIMARY KEY NOT NULL,
	`monthly_limit_micros` integer,
	`alert_thresholds` text DEFAULT '[]' NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `usage_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`run_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`chat_id` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`estimated` integer NOT NULL,
	`unpriced` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `usage_user_created_idx` ON `usage_entries` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_user_agent_idx` ON `usage_entries` (`user_id`,`agent_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_user_model_idx` ON `usage_entries` (`user_id`,`provider`,`model`,`created_at`);--> statement-breakpoint
ALTER TABLE `runs` ADD `cost_micros` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `estimated` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `unpriced` integer DEFAULT false NOT NULL;