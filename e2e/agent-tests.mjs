// Agents answering in the chat page, as a person sees it: a newcomer creates an agent from the
// page, asks it, and watches its reply stream in (the text grows while "Writing…" shows) and end
// as one message; a chat's default agent answers a plain message; Stop cancels a slow reply and
// keeps its partial text, marked cancelled; a failed run says why in the conversation; and at
// phone width the agent controls fit and work. The Worker's model is the local server of
// test/model-server/server.mjs (harness.mjs), scripted by `[[mock {...}]]` in the message.
// Saves test-results/e2e-agent-stream.png, e2e-agent-writing.png, e2e-agent-failed.png and
// e2e-phone-agents.png. Run from chat.e2e.mjs, on
// its Worker and browser.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { apiAs, assertFits, assertSignedOut, assertUsable, newChat, newUser, sendMessage, signIn, visibleAlerts, waitForStatus } from './harness.mjs';

const mock = (directive) => `[[mock ${JSON.stringify(directive)}]]`;

/** The messages list's items that show `text`. */
const bubbles = (p, text) => p.locator('#messages li', { hasText: text });
/** The bubbles of `agent` (its name over them) that show `text`. */
const replies = (p, text, agent = 'Helper') => bubbles(p, text).filter({ has: p.getByText(agent, { exact: true }) });
/** The reply being written: the bubble that says "Writing…". */
const writing = (p) => bubbles(p, 'Writing…');

/** Creates an agent from the lists' "Agents" form and waits until the workspace lists it. */
async function createAgent(p, name, instructions = 'You answer briefly.') {
  await p.getByPlaceholder('New agent').fill(name);
  await p.getByLabel('New agent instructions').fill(instructions);
  await p.getByRole('button', { name: 'Create agent' }).click();
  await p.locator('#agents li', { hasText: name }).waitFor({ state: 'visible', timeout: 10_000 });
}

/** A fresh user in a fresh chat with one agent, "Helper", created from the page. */
async function chatWithHelper(env, name, viewport = { width: 1280, height: 800 }) {
  const user = newUser(name);
  const p = await (await env.browser.newContext({ viewport })).newPage();
  const problems = [];
  p.on('pageerror', (err) => problems.push(String(err)));
  p.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  await signIn(p, env.worker.url, user, 'register');
  await newChat(p, `${name} workspace`, `${name} chat`);
  // A workspace without agents says how to get one.
  await p.getByText('No agents in this workspace yet: create one under Agents').waitFor({ state: 'visible' });
  await createAgent(p, 'Helper');
  await p.getByLabel('Ask').waitFor({ state: 'visible' });
  return { p, user, problems };
}

/** The option a select shows. */
const shown = (select) => select.locator('option:checked').textContent();

/** Samples the live bubble's text until it stops saying "Writing…": what a person watched grow. */
async function watchReply(p) {
  await writing(p).waitFor({ state: 'visible', timeout: 10_000 });
  const seen = [];
  while ((await writing(p).count()) > 0) {
    const text = await writing(p).first().textContent().catch(() => null);
    if (text !== null && text !== seen.at(-1)) seen.push(text);
    await p.waitForTimeout(40);
  }
  return seen;
}

/** Registers the agent tests; `env` is chat.e2e.mjs's Worker, model and browser (harness.mjs useBrowser). */
export function agentTests(env) {
  test('a newcomer creates an agent, asks it, and watches the reply stream in and end as one message', async () => {
    const { p, problems } = await chatWithHelper(env, 'stream');
    // The agent just created is the one asked.
    assert.equal(await shown(p.getByLabel('Ask')), 'Helper');
    assert.equal(await shown(p.getByLabel('Default agent')), 'None');

    const reply = 'Once upon a time a small worker at the edge answered every question it was asked, one word at a time.';
    await sendMessage(p, `Tell me a story ${mock({ reply, pace_ms: 100 })}`);
    const stop = p.getByRole('button', { name: 'Stop' });
    await writing(p).waitFor({ state: 'visible', timeout: 10_000 });
    assert.ok(await stop.isVisible(), 'Stop shows while the agent writes');
    const seen = await watchReply(p);

    // The text grew in several steps before the run finished, each a prefix of the reply.
    const texts = seen.map((t) => t.replace(/^Helper/, '').replace(/Writing…$/, ''));
    const partial = texts.filter((t) => t.length > 0 && t.length < reply.length);
    assert.ok(partial.length >= 3, `the reply grew in steps: ${JSON.stringify(texts)}`);
    for (const t of texts) assert.ok(reply.startsWith(t), `"${t}" is a prefix of the reply`);
    assert.ok(texts.every((t, i) => i === 0 || t.length >= texts[i - 1].length), 'the text only grows');

    // It ends as the stored message: once, from Helper, with no "Writing…" and no Stop.
    await replies(p, reply).waitFor({ state: 'visible' });
    assert.equal(await replies(p, reply).count(), 1, 'the reply shows once');
    assert.equal(await bubbles(p, 'Once upon a time').count(), 2, 'the question and the reply, nothing more');
    assert.equal(await writing(p).count(), 0);
    await stop.waitFor({ state: 'hidden' });
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-agent-stream.png' });

    // A reload shows the conversation from storage, the reply once.
    await p.reload();
    await waitForStatus(p, 'Connected');
    await replies(p, reply).waitFor({ state: 'visible' });
    assert.equal(await replies(p, reply).count(), 1);
    assert.deepEqual(await visibleAlerts(p), []);
    assert.deepEqual(problems, [], 'errors in the console');
  });

  test("the chat's default agent answers a plain message; cleared, nobody answers", async () => {
    const { p } = await chatWithHelper(env, 'default');
    await p.getByLabel('Default agent').selectOption({ label: 'Helper' });
    await p.getByLabel('Ask').selectOption({ label: 'Default (Helper)' });
    await sendMessage(p, 'What is the plan for today?');
    const answer = bubbles(p, 'Echo: What is the plan for today?');
    await answer.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await answer.textContent(), /^Helper/);

    // The default is the chat's: a reload still shows it, and it still answers.
    await p.reload();
    await waitForStatus(p, 'Connected');
    await p.getByLabel('Default agent').waitFor({ state: 'visible' });
    assert.equal(await shown(p.getByLabel('Default agent')), 'Helper');
    assert.equal(await shown(p.getByLabel('Ask')), 'Default (Helper)');
    await sendMessage(p, 'And tomorrow?');
    await bubbles(p, 'Echo: And tomorrow?').waitFor({ state: 'visible', timeout: 10_000 });

    // Cleared: a plain message gets no answer.
    await p.getByLabel('Default agent').selectOption({ label: 'None' });
    await p.waitForFunction(() => document.querySelector('#ask-agent option')?.textContent === 'No agent');
    await sendMessage(p, 'Anyone there?');
    await p.waitForTimeout(1500);
    assert.equal(await bubbles(p, 'Echo: Anyone there?').count(), 0);
    assert.equal(await writing(p).count(), 0);
    assert.deepEqual(await visibleAlerts(p), []);

    // Signed out, nothing of the agents is left on the page, not even in a select.
    await p.getByRole('button', { name: 'Log out' }).click();
    await assertSignedOut(p, ['Helper', 'Echo: What is the plan', 'Default (Helper)']);
  });

  test('Stop cancels a slow reply: the text so far stays, marked cancelled, also after a reload', async () => {
    const { p } = await chatWithHelper(env, 'stop');
    await sendMessage(p, `Count slowly ${mock({ tokens: 300, pace_ms: 80 })}`);
    await writing(p).filter({ hasText: 'tok5' }).waitFor({ state: 'visible', timeout: 10_000 });
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-agent-writing.png' });
    await p.getByRole('button', { name: 'Stop' }).click();

    const cancelled = bubbles(p, 'Cancelled');
    await cancelled.waitFor({ state: 'visible', timeout: 10_000 });
    const text = await cancelled.textContent();
    assert.match(text, /^Helper\s*tok1 tok2 tok3 tok4 tok5/, 'the partial text is kept');
    assert.doesNotMatch(text, /tok300/);
    assert.equal(await writing(p).count(), 0);
    await p.getByRole('button', { name: 'Stop' }).waitFor({ state: 'hidden' });
    // Nothing more arrives: the reply is the same a moment later, and shows once.
    await p.waitForTimeout(800);
    assert.equal(await cancelled.textContent(), text);
    assert.equal(await bubbles(p, 'tok1 tok2').count(), 1);

    await p.reload();
    await waitForStatus(p, 'Connected');
    await bubbles(p, 'tok1 tok2').filter({ hasText: 'Cancelled' }).waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await bubbles(p, 'tok1 tok2').count(), 1);
  });

  test('a failed run shows why in the conversation, live and after a reload', async () => {
    const { p, user } = await chatWithHelper(env, 'failed');
    // The model endpoint answers 500 (not retried here: LLM_MAX_RETRIES=0).
    await sendMessage(p, `Please fail ${mock({ status: 500 })}`);
    const failed = bubbles(p, 'Failed: The model endpoint answered 500');
    await failed.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await failed.textContent(), /^Helper/);
    assert.equal(await writing(p).count(), 0);
    await p.getByRole('button', { name: 'Stop' }).waitFor({ state: 'hidden' });

    // A stream that breaks off: the text it wrote shows, and the failure under it.
    await sendMessage(p, `Start then break ${mock({ tokens: 20, pace_ms: 60, break_after: 4 })}`);
    const broken = bubbles(p, 'Failed: The model stream broke off');
    await broken.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await broken.textContent(), /tok1 tok2 tok3 tok4/);

    // A run refused before it starts (the agent was stopped elsewhere) says so, naming the agent.
    const api = await apiAs(env.worker.url, user);
    const { agents } = await api('GET', '/agents');
    await api('POST', `/agents/${agents[0].agent_id}/stop`);
    await sendMessage(p, 'Are you there?');
    const refused = bubbles(p, 'Failed: The agent is stopped; start it first');
    await refused.waitFor({ state: 'visible', timeout: 10_000 });
    await p.waitForFunction(() => [...document.querySelectorAll('#messages li')].some((li) => li.textContent?.startsWith('HelperFailed: The agent is stopped')), null, { timeout: 5000 });

    // Failures are not stored as messages, yet the conversation still shows them after a reload,
    // each after the message it answered.
    await p.reload();
    await waitForStatus(p, 'Connected');
    for (const [asked, why] of [['Please fail', 'Failed: The model endpoint answered 500'], ['Are you there?', 'Failed: The agent is stopped']]) {
      await bubbles(p, why).waitFor({ state: 'visible', timeout: 10_000 });
      const order = await p.$$eval('#messages li', (lis) => lis.map((li) => li.textContent ?? ''));
      const at = order.findIndex((t) => t.startsWith(asked));
      assert.ok(at >= 0 && order[at + 1]?.includes(why), `"${why}" shows right after "${asked}": ${JSON.stringify(order)}`);
    }
    assert.deepEqual(await visibleAlerts(p), []);
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-agent-failed.png' });
  });

  test('at phone width (390x844) the agent controls fit and work: create, ask, stop, set the default', async () => {
    const user = newUser('phone-agents');
    const p = await (await env.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })).newPage();
    await signIn(p, env.worker.url, user, 'register');
    await p.getByPlaceholder('New workspace').fill('Pocket');
    await p.getByRole('button', { name: 'Add' }).first().click();
    await p.getByRole('link', { name: 'Pocket' }).waitFor({ state: 'visible' });
    await p.getByText('No agents in this workspace yet', { exact: true }).waitFor({ state: 'visible' });

    // The lists: the workspace's agents, and the form that creates one.
    await assertUsable(p, [p.getByPlaceholder('New agent'), p.getByLabel('New agent instructions'), p.getByRole('button', { name: 'Create agent' })], 'lists');
    await createAgent(p, 'Pocket helper');
    await assertFits(p, 'lists with an agent');
    await p.getByPlaceholder('New chat').fill('On the go');
    await p.getByRole('button', { name: 'Add' }).nth(1).click();
    await waitForStatus(p, 'Connected');

    // The chat: who is asked, the default agent, the message and Send.
    const ask = p.getByLabel('Ask');
    const byDefault = p.getByLabel('Default agent');
    await assertFits(p, 'chat');
    await assertUsable(p, [ask, byDefault, p.getByPlaceholder('Message'), p.getByRole('button', { name: 'Send' })], 'chat');
    await ask.selectOption({ label: 'Pocket helper' });
    await sendMessage(p, `Write a lot ${mock({ tokens: 300, pace_ms: 80 })}`);
    await writing(p).filter({ hasText: 'tok3' }).waitFor({ state: 'visible', timeout: 10_000 });
    const stop = p.getByRole('button', { name: 'Stop' });
    await assertUsable(p, [stop, p.getByRole('button', { name: 'Send' }), p.getByPlaceholder('Message')], 'chat while writing');
    await assertFits(p, 'chat while writing');
    const live = await writing(p).boundingBox();
    assert.ok(live.x >= 0 && live.x + live.width <= 390, 'the live reply fits the screen');
    await stop.tap();
    await bubbles(p, 'Cancelled').waitFor({ state: 'visible', timeout: 10_000 });
    await stop.waitFor({ state: 'hidden' });

    await byDefault.selectOption({ label: 'Pocket helper' });
    await ask.selectOption({ label: 'Default (Pocket helper)' });
    await sendMessage(p, 'Short one from the phone');
    await bubbles(p, 'Echo: Short one from the phone').waitFor({ state: 'visible', timeout: 10_000 });
    await assertFits(p, 'chat with replies');
    mkdirSync('test-results', { recursive: true });
    await p.screenshot({ path: 'test-results/e2e-phone-agents.png' });
    assert.deepEqual(await visibleAlerts(p), []);
  });
}
