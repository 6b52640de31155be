import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, depsOf, errorResponse, jsonRequest, okJson } from '../lib/router';
import { updateUserBody, User, userJson } from './schemas';
import { currentUser, REAUTH_REQUIRED, updateUser, USER_EXISTS, USER_NOT_FOUND } from './service';

export const userRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/user',
      tags: ['Accounts'],
      summary: 'The signed-in user',
      operationId: 'getUser',
      description:
        'Upstream contract: answers the user of the bearer token: `user_id`, `email`, `created_at`.',
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
      operationId: 'updateUser',
      description:
        'Upstream contract: changes the email (trimmed and lower-cased). 400 `Invalid email address` or `User already exists`; unknown fields are ignored. Changing the email may ask for a recent sign-in or `current_password`.',
      request: { body: jsonRequest(updateUserBody) },
      responses: {
        200: okJson(z.object({ msg: z.string() })),
        400: errorResponse('Missing JSON in request', 'Invalid email address', USER_EXISTS),
        401: errorResponse('Incorrect password.', REAUTH_REQUIRED),
        404: errorResponse(USER_NOT_FOUND),
      },
    }),
    async (c) => {
      await updateUser(depsOf(c), c.get('user'), c.req.valid('json'));
      return c.json({ msg: 'User updated' }, 200);
    },
  );
