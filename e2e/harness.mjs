// What the browser tests share: one Worker under `wrangler dev`, its model (the local
// OpenAI-compatible server of test/model-server/server.mjs) and one Chromium per test file, and
// the few steps a person takes on the page. Assertions look at what a person sees (visibility,
// text, layout), never at attributes.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { startModelServer } from '../test/model-server/server.mjs';
import { startWorker } from './local-worker.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Cheap password hashing, and no rate limit tripped by many sign-ins from 127.0.0.1. The model's
// errors are not retried, so a scripted failure fails the run at once.
const VARS = { PASSWORD_SCRYPT_N: '1024', PASSWORD_SCRYPT_R: '1', PASSWORD_SCRYPT_P: '1', RATE_LIMIT_PER_MINUTE: '10000', LLM_MAX_RETRIES: '0' };

/** Starts the model server, the Worker and Chromium before the file's tests and stops them after. */
export function useBrowser() {
  /** @type {{ worker: any, browser: any, model: any }} */
  const env = { worker: null, browser: null, model: null };
  before(async () => {
    env.model = await startModelServer();
    env.worker = await startWorker({ vars: { ...VARS, LLM_BASE_URL: `${env.model.url}/v1` } });
    env.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--no-first-run', '--disable-sync'],
    });
  });
  after(async () => {
    await env.browser?.close();
    await env.worker?.stop();
    await env.model?.close();
  });
  return env;
}

let seq = 0;
/** A fresh account's email and password (the Worker's state is fresh on every run). */
export const newUser = (name) => ({ email: `${name}.${seq++}@example.com`, password: 'e2e password 123' });

/** Fills the sign-in form and waits until the signed-in page shows. */
export async function signIn(page, url, { email, password }, action = 'login') {
  await page.goto(url);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: action === 'register' ? 'Register' : 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ state: 'visible' });
}

/** Adds a workspace and a chat from the page and waits for the chat to connect. */
export async function newChat(page, workspace, chat) {
  await page.getByPlaceholder('New workspace').fill(workspace);
  await page.getByRole('button', { name: 'Add' }).first().click();
  await page.getByRole('link', { name: workspace }).waitFor({ state: 'visible' });
  await page.getByPlaceholder('New chat').fill(chat);
  await page.getByRole('button', { name: 'Add' }).nth(1).click();
  await waitForStatus(page, 'Connected');
}

export const waitForStatus = (page, text) =>
  page.waitForFunction((t) => document.querySelector('#status')?.textContent === t, text, { timeout: 10_000 });

/** Sends a message from the composer and waits until it shows in the list. */
export async function sendMessage(page, text) {
  await page.getByPlaceholder('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  // first(): an agent may answer (echo) before this looks, and its reply holds the text too.
  await page.locator('#messages li', { hasText: text }).first().waitFor({ state: 'visible', timeout: 10_000 });
}

/** The API as the given user, from outside the browser (another device, or an attacker's account). */
export async function apiAs(url, { email, password }, register = false) {
  const call = async (method, path, body, token) => {
    const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await res.json();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  if (register) await call('POST', '/register', { email, password });
  const { access_token } = await call('POST', '/auth/login', { email, password });
  return (method, path, body) => call(method, path, body, access_token);
}

/** Only the sign-in form shows, and nothing of `leftovers` is on the page, visible or not. */
export async function assertSignedOut(page, leftovers = []) {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor({ state: 'visible', timeout: 10_000 });
  assert.ok(await page.getByLabel('Email').isVisible());
  assert.ok(await page.getByLabel('Password').isVisible());
  assert.ok(await page.getByRole('button', { name: 'Log in' }).isVisible());
  for (const hidden of [page.getByRole('button', { name: 'Log out' }), page.locator('main'), page.locator('nav'), page.getByPlaceholder('New workspace'), page.getByPlaceholder('Message')]) {
    assert.equal(await hidden.isVisible(), false, `${hidden} is visible while signed out`);
  }
  const text = await page.evaluate(() => document.body.textContent ?? '');
  for (const s of leftovers) assert.ok(!text.includes(s), `"${s}" is still on the page after sign-out`);
  const values = await page.$$eval('input', (inputs) => inputs.map((i) => i.value).filter(Boolean));
  assert.deepEqual(values, [], 'a field still holds a value after sign-out');
}

/** What the alert region says, once it says something. */
export async function alertText(page, pattern) {
  const alert = page.getByRole('alert').filter({ hasText: pattern });
  await alert.waitFor({ state: 'visible', timeout: 10_000 });
  return (await alert.textContent()).trim();
}

/** The visible alert texts (empty when the page shows no error). */
export const visibleAlerts = (page) =>
  page.getByRole('alert').evaluateAll((els) => els.filter((e) => e.checkVisibility()).map((e) => e.textContent?.trim()).filter(Boolean));

/** No horizontal scroll: the document is no wider than the viewport. */
export async function assertFits(p, where) {
  const { scroll, width } = await p.evaluate(() => ({ scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth), width: window.innerWidth }));
  assert.ok(scroll <= width, `${where}: the page is ${scroll} px wide in a ${width} px viewport`);
}

/** Visible, inside the viewport, at least 40 px tall, and (for fields) 16 px text. */
export async function assertUsable(p, locators, where) {
  const width = p.viewportSize().width;
  for (const l of locators) {
    assert.ok(await l.isVisible(), `${where}: ${l} is not visible`);
    const box = await l.boundingBox();
    assert.ok(box.height >= 40, `${where}: ${l} is ${box.height} px tall`);
    assert.ok(box.x >= 0 && box.x + box.width <= width, `${where}: ${l} sticks out of the viewport`);
    const fontSize = await l.evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    assert.ok(fontSize >= 16, `${where}: ${l} has ${fontSize} px text`);
  }
}
