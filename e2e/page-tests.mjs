// The chat page as a person sees it: only the sign-in form when signed out; nothing of the
// previous user after signing out or after the session is revoked elsewhere; errors shown in the
// page and cleared by the next success; and a page that fits a phone. Saves
// test-results/e2e-phone.png. Run from chat.e2e.mjs, on its Worker and browser: starting
// `wrangler dev` takes most of the run, so it is started once.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { alertText, apiAs, assertFits, assertSignedOut, assertUsable, newChat, newUser, sendMessage, signIn, visibleAlerts } from './harness.mjs';

/** Registers the page tests; `env` is chat.e2e.mjs's Worker and browser (harness.mjs useBrowser). */
export function pageTests(env) {
  const page = async (options) => (await env.browser.newContext(options)).newPage();

  test('signed out, only the sign-in form shows', async () => {
    const p = await page();
    await p.goto(env.worker.url);
    await assertSignedOut(p);
    assert.deepEqual(await visibleAlerts(p), []);
  });

  test('after sign-out nothing of the previous user is left, and the next user starts clean', async () => {
    const user = newUser('out');
    const p = await page();
    await signIn(p, env.worker.url, user, 'register');
    assert.equal(await p.getByRole('heading', { name: 'Sign in' }).isVisible(), false);
    assert.ok(await p.getByText(user.email).isVisible());
    await newChat(p, 'Secret plans', 'Private thread');
    await sendMessage(p, 'the launch code is 0000');
    assert.ok(await p.getByRole('link', { name: 'Secret plans' }).isVisible());
    assert.ok(await p.getByRole('link', { name: 'Private thread' }).isVisible());

    await p.getByRole('button', { name: 'Log out' }).click();
    await assertSignedOut(p, [user.email, 'Secret plans', 'Private thread', 'the launch code is 0000', 'Connected']);
    assert.doesNotMatch(p.url(), /#/);

    // Signing out revoked the session: the old page's token no longer opens the API.
    const next = newUser('next');
    await signIn(p, env.worker.url, next, 'register');
    await p.getByText('No workspaces yet').waitFor({ state: 'visible', timeout: 10_000 }); // the lists have loaded
    const text = await p.evaluate(() => document.body.textContent ?? '');
    for (const s of [user.email, 'Secret plans', 'Private thread', 'the launch code is 0000']) assert.ok(!text.includes(s), `${s} shows for the next user`);
  });

  test('a session revoked elsewhere ("log out all") sends every page back to sign-in, cleared', async () => {
    const user = newUser('revoked');
    const a = await page();
    const b = await page();
    const c = await page();
    await signIn(a, env.worker.url, user, 'register');
    await newChat(a, 'Team room', 'Standup notes');
    await sendMessage(a, 'notes for tomorrow');
    await signIn(b, env.worker.url, user);
    await b.goto(a.url());
    await b.locator('#messages li', { hasText: 'notes for tomorrow' }).waitFor({ state: 'visible' });
    await signIn(c, env.worker.url, user); // on the workspace list, no socket open

    const api = await apiAs(env.worker.url, user);
    await api('POST', '/auth/logout-all');

    // a and b hear it from their sockets (closed with 4401), without anyone touching them.
    const leftovers = [user.email, 'Team room', 'Standup notes', 'notes for tomorrow'];
    for (const p of [a, b]) {
      await assertSignedOut(p, leftovers);
      assert.match(await alertText(p, /session/i), /session has ended/i);
    }
    // c hears it on its next request.
    await c.getByRole('link', { name: 'Team room' }).click();
    await assertSignedOut(c, leftovers);
    assert.match(await alertText(c, /session/i), /session has ended/i);
  });

  test('errors show in the page, readable, and clear when the next action succeeds', async () => {
    const user = newUser('errors');
    const p = await page();
    await signIn(p, env.worker.url, user, 'register');
    assert.deepEqual(await visibleAlerts(p), []);

    // A blank workspace name.
    await p.getByPlaceholder('New workspace').fill('   ');
    await p.getByRole('button', { name: 'Add' }).first().click();
    assert.match(await alertText(p, /name/), /Could not create the workspace: Give the workspace a name/);
    await p.getByPlaceholder('New workspace').fill('Mine');
    await p.getByRole('button', { name: 'Add' }).first().click();
    await p.getByRole('link', { name: 'Mine' }).waitFor({ state: 'visible' });
    await p.waitForFunction(() => ![...document.querySelectorAll('[role=alert]')].some((e) => e.checkVisibility()));

    // Someone else's chat, by link and by path: an error, and nothing of theirs shown.
    const other = newUser('other');
    const theirs = await apiAs(env.worker.url, other, true);
    const { workspace } = await theirs('POST', '/workspace', { name: 'Their workspace' });
    const { chat } = await theirs('POST', `/chat?workspace_id=${workspace.workspace_id}`, { title: 'Their chat' });
    await p.goto(`${env.worker.url}/#chat=${chat.chat_id}`);
    assert.match(await alertText(p, /owner/), /Could not open that chat: User is not the owner of the chat/);
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-error.png' });
    assert.ok(await p.getByRole('button', { name: 'Log out' }).isVisible(), 'still signed in');
    await p.goto(`${env.worker.url}/#/w/${workspace.workspace_id}/c/${chat.chat_id}`);
    assert.match(await alertText(p, /access/), /Could not open that workspace: User does not have access to the workspace/);
    const text = await p.evaluate(() => document.body.textContent ?? '');
    assert.ok(!text.includes('Their workspace') && !text.includes('Their chat'));
    assert.equal(await p.getByPlaceholder('Message').isVisible(), false);

    await p.getByRole('link', { name: 'Mine' }).click();
    await p.getByText('No chats yet').waitFor({ state: 'visible' });
    assert.deepEqual(await visibleAlerts(p), []);

    // The network failing under a request.
    await p.route((url) => url.pathname === '/workspace', (r) => (r.request().method() === 'POST' ? r.abort('internetdisconnected') : r.continue()));
    await p.getByPlaceholder('New workspace').fill('Offline');
    await p.getByRole('button', { name: 'Add' }).first().click();
    assert.match(await alertText(p, /reach/), /Cannot reach the server/);
    await p.unrouteAll();
    await p.getByRole('button', { name: 'Add' }).first().click();
    await p.getByRole('link', { name: 'Offline' }).waitFor({ state: 'visible' });
    await p.waitForFunction(() => ![...document.querySelectorAll('[role=alert]')].some((e) => e.checkVisibility()));

    // A wrong password, on the sign-in form.
    await p.getByRole('button', { name: 'Log out' }).click();
    await p.getByLabel('Email').fill(user.email);
    await p.getByLabel('Password').fill('not the password');
    await p.getByRole('button', { name: 'Log in' }).click();
    assert.match(await alertText(p, /password/i), /Incorrect password/);
  });

  test('at phone width (390x844) the page fits, its controls are usable, and a message can be sent', async () => {
    const user = newUser('phone');
    const p = await page({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await p.goto(env.worker.url);
    await assertFits(p, 'sign-in');
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-phone-signin.png' });
    await assertUsable(p, [p.getByLabel('Email'), p.getByLabel('Password'), p.getByRole('button', { name: 'Log in' }), p.getByRole('button', { name: 'Register' })], 'sign-in');

    await signIn(p, env.worker.url, user, 'register');
    await assertFits(p, 'lists');
    await assertUsable(p, [p.getByPlaceholder('New workspace'), p.getByRole('button', { name: 'Add' }).first(), p.getByRole('button', { name: 'Log out' })], 'lists');

    await newChat(p, 'Phone workspace with a rather long name', 'Phone chat');
    await assertFits(p, 'chat');
    await assertUsable(p, [p.getByPlaceholder('Message'), p.getByRole('button', { name: 'Send' }), p.getByRole('link', { name: 'Chats' })], 'chat');
    await sendMessage(p, 'sent from a phone');
    await sendMessage(p, `a long word: ${'x'.repeat(120)}`);
    await assertFits(p, 'chat with messages');
    const message = await p.locator('#messages li', { hasText: 'sent from a phone' }).boundingBox();
    assert.ok(message.x >= 0 && message.x + message.width <= 390);
    await p.screenshot({ path: 'test-results/e2e-phone.png' });

    // Back to the lists, where the chat is listed.
    await p.getByRole('link', { name: 'Chats' }).click();
    await p.getByRole('link', { name: 'Phone chat' }).waitFor({ state: 'visible' });
    await assertFits(p, 'lists with a chat');
    await p.screenshot({ path: 'test-results/e2e-phone-lists.png' });
  });
}
