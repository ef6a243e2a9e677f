// latchkey/client in a real browser (Debian's Chromium, driven by
// playwright-core), against a real latchkey on another origin with CORS and
// the refresh cookie: a page on the listed origin logs in, survives a reload
// with the refresh token only in an HttpOnly cookie, refreshes through it and
// calls a protected route; a page on an unlisted origin (same site, another
// port, so the browser does send the cookie) can neither log in nor refresh.
//
// The client is served bundle-free: dist/src/client/*.js, and the verifier
// package's wire rules (packages/verify/dist/wire.js, which the client imports
// as @latchkey/verify/wire, mapped by the page's import map), as ES modules
// from the page's own origin.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { LatchkeyClient } from '../src/client/index.js';
import { launchChromium, skipWithoutChromium } from './browser.js';
import { startServer, type TestServer } from './helpers.js';

/** The page's global: the client PAGE creates. */
type PageWindow = Window & { lk: LatchkeyClient };

const SUITE = 'latchkey/client with the refresh cookie in Chromium';
const skip = skipWithoutChromium(SUITE);
const USER = { username: 'browser-user', password: 'pw-browser-123' };
/** dist/src, where the compiled client lives (this file runs from dist/test). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
/** The compiled @latchkey/verify/wire, which imports nothing. */
const WIRE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages/verify/dist/wire.js');

const PAGE = `<!doctype html><meta charset="utf-8"><title>front-end</title>
<script type="importmap">{ "imports": { "@latchkey/verify/wire": "/wire.js" } }</script>
<script type="module">
  import { createClient } from '/client/index.js';
  const baseUrl = new URLSearchParams(location.search).get('lk');
  window.lk = createClient({ baseUrl, refreshCookie: true });
  window.ready = true;
</script>`;

/** A static front-end: the page, and the client's modules (nothing else). */
function frontEnd(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    const m = /^\/(client\/[a-z-]+\.js|wire\.js)$/.exec(url.pathname);
    const file = !m ? undefined : m[1] === 'wire.js' ? WIRE : path.join(SRC, m[1]!);
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(fs.readFileSync(file));
  });
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe(SUITE, { skip, timeout: 90_000 }, () => {
  let s: TestServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  const servers: http.Server[] = [];
  let lkBase: string;
  let originA: string;
  let originB: string;

  before(async () => {
    const a = frontEnd();
    const b = frontEnd();
    servers.push(a, b);
    originA = await listen(a);
    originB = await listen(b);
    // Secure stays on: Chromium treats http://127.0.0.1 as a secure context and keeps Secure cookies from it.
    s = await startServer({ env: { LATCHKEY_CORS_ORIGINS: originA, LATCHKEY_REFRESH_COOKIE: 'on' } });
    await s.user(USER);
    lkBase = await s.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    context = await browser.newContext();
  });

  after(async () => {
    await browser?.close();
    await s?.close();
    await Promise.all(servers.map(closeServer));
  });

  async function open(origin: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${origin}/?lk=${encodeURIComponent(lkBase)}`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    return page;
  }

  const refreshCookies = async () => (await context.cookies()).filter((c) => c.name === 'latchkey-refresh');

  it('a page on the listed origin logs in, reloads, refreshes through the cookie and calls a protected route; logout clears it', async () => {
    const page = await open(originA);
    try {
      const afterLogin = await page.evaluate(async (user) => {
        const lk = (window as unknown as PageWindow).lk;
        await lk.login(user);
        const t = await lk.getTokens();
        return { access: typeof t?.access, refresh: t?.refresh, readable: document.cookie };
      }, USER);
      assert.deepEqual(afterLogin, { access: 'string', refresh: '', readable: '' });
      const [cookie, ...more] = await refreshCookies();
      assert.equal(more.length, 0);
      assert.ok(cookie, 'the browser kept the refresh cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.path, '/api/token/');

      await page.reload();
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const afterReload = await page.evaluate(async () => {
        const lk = (window as unknown as PageWindow).lk;
        const before = await lk.getTokens();
        const t = await lk.refresh();
        const res = await lk.fetch('/api/protected-endpoint/');
        return { before, refresh: t.refresh, status: res.status, body: (await res.json()) as unknown };
      });
      assert.deepEqual(afterReload, {
        before: null,
        refresh: '',
        status: 200,
        body: { message: 'You have accessed a protected route!' },
      });

      const afterLogout = await page.evaluate(async () => {
        const lk = (window as unknown as PageWindow).lk;
        await lk.logout();
        try {
          await lk.refresh();
          return 'refreshed';
        } catch (e) {
          return (e as { status?: number }).status;
        }
      });
      assert.equal(afterLogout, 401);
      assert.deepEqual(await refreshCookies(), []);
    } finally {
      await page.close();
    }
  });

  it('a page on an unlisted origin cannot log in, nor refresh through the cookie the browser sends', async () => {
    const pageA = await open(originA);
    const pageB = await open(originB);
    try {
      await pageA.evaluate((user) => (window as unknown as PageWindow).lk.login(user), USER);
      assert.equal((await refreshCookies()).length, 1);

      const login = await pageB.evaluate(async (user) => {
        try {
          await (window as unknown as PageWindow).lk.login(user);
          return 'logged in';
        } catch (e) {
          return `${(e as Error).name}: ${(e as Error).message}`;
        }
      }, USER);
      assert.match(login, /^TypeError: Failed to fetch/);
      const refresh = await pageB.evaluate(async () => {
        try {
          await (window as unknown as PageWindow).lk.refresh();
          return 'refreshed';
        } catch (e) {
          return (e as Error).name;
        }
      });
      assert.equal(refresh, 'TypeError');

      // A form-like POST needs no preflight: the browser sends it, with the
      // cookie (same site), and the server refuses it by its Origin.
      // (Without the cookie the same request is a 400 for the missing field:
      // the 403 is the CSRF check refusing the cookie the browser did send.)
      const formPost = async (credentials: 'include' | 'omit') => {
        const answer = pageB.waitForResponse((r) => r.url() === `${lkBase}/api/token/refresh/`);
        await pageB.evaluate(
          async ([url, creds]) => {
            await fetch(url!, { method: 'POST', mode: 'no-cors', credentials: creds as RequestCredentials, body: new URLSearchParams() });
          },
          [`${lkBase}/api/token/refresh/`, credentials],
        );
        return (await answer).status();
      };
      assert.equal(await formPost('include'), 403);
      assert.equal(await formPost('omit'), 400);

      // The page on the listed origin still refreshes: nothing was spent.
      const status = await pageA.evaluate(async () => {
        const lk = (window as unknown as PageWindow).lk;
        await lk.refresh();
        return (await lk.fetch('/api/protected-endpoint/')).status;
      });
      assert.equal(status, 200);
    } finally {
      await pageA.close();
      await pageB.close();
    }
  });
});
