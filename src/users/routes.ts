import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { updateUserBody, User, userJson } from './schemas';
import { currentUser, updateUser, USER_EXISTS, USER_NOT_FOUND } from './service';

export const userRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/user',
      tags: ['Accounts'],
      summary: 'The signed-in user',
      responses: { 200: okJson(z.object({ user: User })), 404: errorResponse(USER_NOT_FOUND) },
    }),
    async (c) => c.json({ user: userJson(await currentUser(c.get('db'), c.get('user').id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/user',
      tags: ['Accounts'],
      summary: 'Update the signed-in user',
      request: { body: jsonRequest(updateUserBody) },
      responses: {
        200: okJson(z.object({ msg: z.string() })),
        400: errorResponse('Missing JSON in request', 'Invalid email address', USER_EXISTS),
        404: errorResponse(USER_NOT_FOUND),
      },
    }),
    async (c) => {
      await updateUser(c.get('db'), c.get('user').id, c.req.valid('json'));
      return c.json({ msg: 'User updated' }, 200);
    },
  );
