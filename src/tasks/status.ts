import { ApiError } from '../lib/errors';

export const TASK_STATUSES = ['not_started', 'in_progress', 'blocked', 'completed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task is born in one of these; completed and cancelled are reached only by a move. */
export const INITIAL_STATUSES = ['not_started', 'in_progress', 'blocked'] as const;

export const TASK_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

/** The allowed moves. Completed can only be reopened; cancelled is final. */
export const TASK_MOVES: Record<TaskStatus, readonly TaskStatus[]> = {
  not_started: ['in_progress', 'blocked', 'completed', 'cancelled'],
  in_progress: ['not_started', 'blocked', 'completed', 'cancelled'],
  blocked: ['not_started', 'in_progress', 'cancelled'],
  completed: ['in_progress'],
  cancelled: [],
};

export const canMove = (from: TaskStatus, to: TaskStatus): boolean => TASK_MOVES[from].includes(to);

export const invalidTransition = (from: string, to: string) =>
  new ApiError(409, 'invalid_status_transition', `Cannot move a task from ${from} to ${to}`, { from, to });

/** Throws the 409 unless `from -> to` is in the table. Same-status is the caller's no-op, never a move. */
export function assertMove(from: TaskStatus, to: TaskStatus): void {
  if (!canMove(from, to)) throw invalidTransition(from, to);
}
