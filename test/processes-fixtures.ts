import { expect } from 'vitest';
import { call, type TestUser } from './helpers';

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// Yearly, so no route-test process falls due while a file runs.
export const YEARLY = '0 0 1 1 *';
export const taskAction = { type: 'create_task', task: { title: 'Weekly review', priority: 'high', tags: ['auto'] } };

/** POST /processes with a valid time-based body, `body` overriding its fields. */
export async function create(u: TestUser, body: Record<string, unknown> = {}) {
  return call('POST', '/processes', { token: u.token, body: { name: 'Review', trigger_type: 'time_based', schedule: YEARLY, action: taskAction, ...body } });
}

export async function created(u: TestUser, body: Record<string, unknown> = {}) {
  const res = await create(u, body);
  expect(res.status).toBe(201);
  return res.json.process;
}
