-- Agents become a resource of their own (POST /agents, soft delete). SQLite cannot make
-- package_name and version nullable in place, so the table is rebuilt. D1 ignores
-- `PRAGMA foreign_keys=OFF` in a migration, and dropping `agents` would then run its foreign-key
-- actions (workspace_agents rows deleted, tasks.agent_id set to null): both are copied aside
-- first and put back after.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__agent_links` AS SELECT `workspace_id`, `agent_id`, `created_at` FROM `workspace_agents`;--> statement-breakpoint
CREATE TABLE `__agent_tasks` AS SELECT `id`, `agent_id` FROM `tasks` WHERE `agent_id` IS NOT NULL;--> statement-breakpoint
CREATE TABLE `__new_agents` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`package_name` text,
	`version` text,
	`name` text NOT NULL,
	`description` text NOT NULL,
	`type` text NOT NULL,
	`role` text NOT NULL,
	`status` text DEFAULT 'idle' NOT NULL,
	`system_prompt` text NOT NULL,
	`model` text NOT NULL,
	`tools` text DEFAULT '[]' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
-- Every existing agent was installed from a package: its definition (the package's agent.json
-- part: system_prompt, model, tools) moves into the columns; a package's free-text provider maps
-- to `openai-compatible`, as installing does now.
INSERT INTO `__new_agents`("id", "user_id", "package_name", "version", "name", "description", "type", "role", "status", "system_prompt", "model", "tools", "config", "created_at", "updated_at", "deleted_at")
SELECT "id", "user_id", "package_name", "version", "name", "description", 'chat', 'assistant', 'idle',
	coalesce(json_extract("definition", '$.system_prompt'), ''),
	json_set(coalesce(json_extract("definition", '$.model'), '{}'), '$.provider', 'openai-compatible'),
	coalesce(json_extract("definition", '$.tools'), '[]'),
	'{}', "created_at", "updated_at", NULL
FROM `agents`;--> statement-breakpoint
DROP TABLE `agents`;--> statement-breakpoint
ALTER TABLE `__new_agents` RENAME TO `agents`;--> statement-breakpoint
INSERT OR IGNORE INTO `workspace_agents`(`workspace_id`, `agent_id`, `created_at`) SELECT `workspace_id`, `agent_id`, `created_at` FROM `__agent_links`;--> statement-breakpoint
UPDATE `tasks` SET `agent_id` = (SELECT a.`agent_id` FROM `__agent_tasks` a WHERE a.`id` = `tasks`.`id`) WHERE `id` IN (SELECT `id` FROM `__agent_tasks`);--> statement-breakpoint
DROP TABLE `__agent_links`;--> statement-breakpoint
DROP TABLE `__agent_tasks`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `agents_user_package_idx` ON `agents` (`user_id`,`package_name`) WHERE "agents"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX `agents_user_live_created_idx` ON `agents` (`user_id`,`created_at`,`id`) WHERE "agents"."deleted_at" IS NULL;
