// The chat page in a real browser: Debian's Chromium driven by playwright-core against the
// Worker under `wrangler dev`. Two pages of one user on one chat; a message typed in one
// appears in the other; a reload shows the history. Saves test-results/e2e-chat.png (page A,
// the desktop screenshot that docs/chat-page.png is refreshed from). Then the page tests of
// page-tests.mjs and the agent tests of agent-tests.mjs, on the same Worker, model and browser.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { agentTests } from './agent-tests.mjs';
import { newChat, newUser, signIn, useBrowser, waitForStatus } from './harness.mjs';
import { pageTests } from './page-tests.mjs';

const env = useBrowser();

test('two pages of one user chat live, and a reload shows the history', async () => {
  const user = newUser('ada');
  const a = await (await env.browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  const b = await (await env.browser.newContext()).newPage();
  // The page must run under the strict CSP of public/_headers: no inline script or style, no blocked load.
  const problems = [];
  a.on('pageerror', (err) => problems.push(String(err)));
  a.on('console', (m) => m.type() === 'error' && problems.push(m.text()));

  await signIn(a, env.worker.url, user, 'register');
  await newChat(a, 'Product launch', 'Release checklist');
  const chatUrl = a.url();
  assert.match(chatUrl, /#\/w\/[^/]+\/c\/[^/]+$/);

  await signIn(b, env.worker.url, user);
  await b.goto(chatUrl);
  await waitForStatus(b, 'Connected');

  await a.getByPlaceholder('Message').fill('hello from page A');
  await a.getByRole('button', { name: 'Send' }).click();
  await b.locator('#messages li', { hasText: 'hello from page A' }).waitFor({ state: 'visible', timeout: 10_000 });
  await b.getByPlaceholder('Message').fill('and back from page B');
  await b.getByPlaceholder('Message').press('Enter');
  await a.locator('#messages li', { hasText: 'and back from page B' }).waitFor({ state: 'visible', timeout: 10_000 });

  await b.reload();
  await b.waitForFunction(() => document.querySelectorAll('#messages li').length >= 2, null, { timeout: 10_000 });
  const texts = await b.$$eval('#messages li', (lis) => lis.map((li) => li.firstChild?.textContent));
  assert.deepEqual(texts, ['hello from page A', 'and back from page B']);
  assert.deepEqual(problems, [], 'errors in the console of page A');

  mkdirSync('test-results', { recursive: true });
  await a.mouse.move(700, 400); // no hover on the Send button in the picture
  await a.screenshot({ path: 'test-results/e2e-chat.png' });
});

pageTests(env);
agentTests(env);
