import { finishExecution, startManualExecution, type ExecutionRow, type ProcessRow } from './queries';
import { newId } from '../lib/ids';
import type { Db } from '../db/client';
import { runAction } from './actions';

/** Runs the action of an execution already recorded as `running` and records its outcome. */
export async function complete(env: Env, db: Db, p: ProcessRow, execution: ExecutionRow): Promise<ExecutionRow> {
  const outcome = await runAction({ env, db, process: p, executionId: execution.id, dueAt: execution.dueAt });
  if (outcome.status === 'failed') {
    console.error(JSON.stringify({ msg: 'process action failed', process_id: p.id, execution_id: execution.id, error: outcome.message }));
  }
  return (await finishExecution(db, execution.id, outcome.status, outcome.message, Date.now())) ?? execution;
}

/**
 * POST /processes/:id/execute: a run outside the schedule (due_at null, so it never collides
 * with a scheduled one). The row is written before the action runs, so a Worker that dies
 * midway leaves a `running` execution that the timeout sweep closes.
 */
export async function executeNow(env: Env, db: Db, p: ProcessRow): Promise<ExecutionRow> {
  const execution = await startManualExecution(db, p, newId(), Date.now());
  return complete(env, db, p, execution);
}
