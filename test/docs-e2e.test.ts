// The docs page in a real browser (Debian's Chromium, driven by
// playwright-core): obtain a token through "Try it out", paste it into
// Authorize, and call the protected route with it. Offline: the page may load
// nothing from another host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { launchChromium, skipWithoutChromium } from './browser.js';
import { startServer, type TestServer } from './helpers.js';

const SCREENSHOT = '/tmp/latchkey-docs.png';
const SUITE = 'docs page in Chromium';
const skip = skipWithoutChromium(SUITE);

const USER = { username: 'docs-e2e', password: 'pw-docs-e2e-123' };

describe(SUITE, { skip, timeout: 60_000 }, () => {
  let s: TestServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let base: string;
  const offHost: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  before(async () => {
    s = await startServer();
    await s.user(USER);
    base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    page.setDefaultTimeout(10_000);
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.origin !== base) offHost.push(req.url());
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
  });

  after(async () => {
    await browser?.close();
    await s?.close();
  });

  /** The operation block of `method path`, expanded. */
  async function operation(method: string, path: string): Promise<Locator> {
    const block = page.locator(`.opblock.opblock-${method}`).filter({
      has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
    });
    await block.waitFor();
    if (!(await block.evaluate((el) => el.classList.contains('is-open')))) {
      await block.locator('.opblock-summary').first().click();
    }
    await block.locator('.opblock-body').waitFor();
    return block;
  }

  /** Try it out, then Execute; returns the live response's status and body text. */
  async function execute(block: Locator, body?: unknown): Promise<{ status: string; text: string }> {
    await block.getByRole('button', { name: 'Try it out' }).click();
    if (body !== undefined) await block.locator('textarea.body-param__text').fill(JSON.stringify(body));
    await block.getByRole('button', { name: 'Execute' }).click();
    const live = block.locator('.live-responses-table .response');
    await live.waitFor();
    const status = (await live.locator('.response-col_status').first().innerText()).trim();
    const text = await live.locator('.response-col_description pre').first().innerText();
    return { status, text };
  }

  it('obtains a token with "Try it out", authorizes with it and calls the protected route', async () => {
    const res = await page.goto(`${base}/api/docs/`);
    assert.equal(res?.status(), 200);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'latchkey' }).waitFor();

    // POST /api/token/ with the user's credentials.
    const login = await execute(await operation('post', '/api/token/'), USER);
    assert.equal(login.status, '200', login.text);
    const { access } = JSON.parse(login.text) as { access: string };
    assert.match(access, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    // Authorize: paste the access token into bearerAuth.
    await page.locator('.auth-wrapper button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.waitFor();
    await modal.locator('input[type="text"], input[type="password"]').first().fill(access);
    await modal.locator('button.authorize').click();
    await modal.getByRole('button', { name: 'Close' }).click();
    await modal.waitFor({ state: 'detached' });

    // GET /api/protected-endpoint/ with it.
    const protectedOp = await operation('get', '/api/protected-endpoint/');
    const me = await execute(protectedOp);
    assert.equal(me.status, '200', me.text);
    assert.deepEqual(JSON.parse(me.text), { message: 'You have accessed a protected route!' });
    assert.match(await protectedOp.locator('.live-responses-table').innerText(), /You have accessed a protected route!/);
    // The request carried the pasted token (Swagger UI shows it as curl).
    assert.match(await protectedOp.locator('.curl-command').innerText(), new RegExp(`Authorization: Bearer ${access}`));

    // persistAuthorization: the token is kept for the next visit.
    assert.match(String(await page.evaluate(() => localStorage.getItem('authorized'))), new RegExp(access));

    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    assert.deepEqual(offHost, [], 'the page requested nothing from another host');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    assert.deepEqual(consoleErrors, [], 'no console errors (a CSP violation would be one)');
  });
});
