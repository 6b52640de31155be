import { z } from '@hono/zod-openapi';
import { findUserById, updateUserEmail } from './queries';
import { badRequest, notFound } from '../lib/errors';
import { createRouter, defineRoute, errorResponse } from '../lib/router';
import { iso } from '../lib/time';
import { emailSchema } from '../auth/routes';

const User = z
  .object({ user_id: z.string(), email: z.string(), created_at: z.string() })
  .openapi('User');

export const userRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/user',
      tags: ['Accounts'],
      summary: 'The signed-in user',
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: z.object({ user: User }) } } },
        404: errorResponse('User not found'),
      },
    }),
    async (c) => {
      const user = await findUserById(c.get('db'), c.get('user').id);
      if (!user) throw notFound('User not found', 'user_not_found');
      return c.json({ user: { user_id: user.id, email: user.email, created_at: iso(user.createdAt) } }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/user',
      tags: ['Accounts'],
      summary: 'Update the signed-in user',
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: z.object({ email: emailSchema('Missing email parameter').optional() }) } },
        },
      },
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: z.object({ msg: z.string() }) } } },
        400: errorResponse('Missing JSON in request', 'Invalid email address', 'User already exists'),
        404: errorResponse('User not found'),
      },
    }),
    async (c) => {
      const { email } = c.req.valid('json');
      const db = c.get('db');
      const { id } = c.get('user');
      const user = await findUserById(db, id);
      if (!user) throw notFound('User not found', 'user_not_found');
      if (email !== undefined && email !== user.email && !(await updateUserEmail(db, id, email, Date.now()))) {
        throw badRequest('User already exists', 'user_exists');
      }
      return c.json({ msg: 'User updated' }, 200);
    },
  );
