// The chat page in a real browser: Debian's Chromium driven by playwright-core against the
// Worker under `wrangler dev`. Two pages of one user on one chat; a message typed in one
// appears in the other; a reload shows the history. Saves test-results/e2e-chat.png.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startWorker } from './local-worker.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let worker;
let browser;

before(async () => {
  worker = await startWorker({ vars: { PASSWORD_SCRYPT_N: '1024', PASSWORD_SCRYPT_R: '1', PASSWORD_SCRYPT_P: '1' } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function signIn(page, email, password, action) {
  await page.goto(worker.url);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click(`button[value=${action}]`);
  await page.waitForSelector('#app-view:not([hidden])');
}

test('two pages of one user chat live, and a reload shows the history', async () => {
  const email = `e2e-${Date.now()}@example.com`;
  const password = 'e2e password 123';
  const context1 = await browser.newContext();
  const context2 = await browser.newContext();
  const a = await context1.newPage();
  const b = await context2.newPage();

  await signIn(a, email, password, 'register');
  await a.fill('#new-workspace input', 'E2E workspace');
  await a.click('#new-workspace button');
  await a.waitForSelector('#new-chat:not([hidden])');
  await a.fill('#new-chat input', 'E2E chat');
  await a.click('#new-chat button');
  await a.waitForFunction(() => document.querySelector('#status')?.textContent === 'Connected');
  const chatUrl = a.url();
  assert.match(chatUrl, /#\/w\/[^/]+\/c\/[^/]+$/);

  await signIn(b, email, password, 'login');
  await b.goto(chatUrl);
  await b.waitForFunction(() => document.querySelector('#status')?.textContent === 'Connected');

  await a.fill('#composer input', 'hello from page A');
  await a.click('#composer button');
  await b.waitForSelector('#messages li:has-text("hello from page A")', { timeout: 10_000 });
  await b.fill('#composer input', 'and back from page B');
  await b.press('#composer input', 'Enter');
  await a.waitForSelector('#messages li:has-text("and back from page B")', { timeout: 10_000 });

  await b.reload();
  await b.waitForFunction(() => document.querySelectorAll('#messages li').length >= 2, null, { timeout: 10_000 });
  const texts = await b.$$eval('#messages li', (lis) => lis.map((li) => li.firstChild?.textContent));
  assert.deepEqual(texts, ['hello from page A', 'and back from page B']);

  mkdirSync('test-results', { recursive: true });
  await b.screenshot({ path: 'test-results/e2e-chat.png' });
});
