#!/usr/bin/env bash
# Session-local helper while nothing is deployed: regenerate the single initial migration from
# src/db/schema.ts, serialized with flock so parallel edits never interleave drizzle-kit runs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/agentedge-migrations.lock
flock 9
rm -rf migrations
npx drizzle-kit generate --name init >/dev/null
echo "migrations regenerated: $(ls migrations/*.sql)"
