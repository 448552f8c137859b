// Times the dashboard's pages in Debian's Chromium (web/tests/e2e/chromium.mjs: playwright-core from web/node_modules) for
// bench/dashboard.py, which decides what to print. Usage: node dashboard.mjs '<json: {web, base, token, pages:
// [{name, path, ready}], cold, warm}>'. Prints one JSON object: per page the cold and warm times (ms, navigation start
// to data on screen) and the API requests the page made.
//
// "Data on screen": the page's own selector of rendered data (`ready`) is present, no API request of the page is in
// flight, and the browser has painted since (two animation frames). Cold: a fresh browser context (empty HTTP cache,
// no service state), the token already stored as a returning admin has it. Warm: the same page loaded again in that
// context (assets from the cache, the API asked again).
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = JSON.parse(process.argv[2]);
// The browser tests' own launcher: the same Chromium with the same options.
const { launch } = await import(pathToFileURL(path.join(args.web, "tests", "e2e", "chromium.mjs")).href);
const TIMEOUT = 60000;

const browser = await launch();

async function context() {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await ctx.addInitScript((token) => {
    if (location.protocol.startsWith("http")) localStorage.setItem("warpdrive.token", token); // not on about:blank
  }, args.token);
  const page = await ctx.newPage();
  const pending = new Set();
  const seen = [];
  const done = (r) => pending.delete(r);
  page.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/")) {
      pending.add(r);
      seen.push(r.url().slice(args.base.length));
    }
  });
  page.on("requestfinished", done);
  page.on("requestfailed", done);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto("about:blank"); // the renderer is up: its start-up is not the page's time
  return { ctx, page, pending, seen, errors };
}

async function load(c, p) {
  c.seen.length = 0;
  const t0 = Date.now();
  await c.page.goto(args.base + p.path, { timeout: TIMEOUT });
  await c.page.waitForSelector(p.ready, { timeout: TIMEOUT });
  while (c.pending.size) await new Promise((r) => setTimeout(r, 5));
  await c.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const ms = Date.now() - t0;
  // Where the time went, from the page's own clock (ms after navigation start): the document parsed and its
  // scripts run (DOMContentLoaded), the first API request sent, the last API response received.
  const parts = await c.page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const api = performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname.startsWith("/api/"));
    return {
      dcl: Math.round(nav.domContentLoadedEventEnd),
      apiStart: Math.round(Math.min(...api.map((e) => e.startTime))),
      apiEnd: Math.round(Math.max(...api.map((e) => e.responseEnd))),
    };
  });
  return { ms, ...parts };
}

const out = { pages: {} };
try {
  for (const p of args.pages) {
    const r = { cold: [], warm: [], requests: [], errors: [] };
    out.pages[p.name] = r;
    for (let i = 0; i < args.cold && !r.failed; i++) {
      const c = await context();
      try {
        r.cold.push(await load(c, p));
        if (i === 0) {
          for (let j = 0; j < args.warm; j++) r.warm.push(await load(c, p));
          r.requests = [...new Set(c.seen)];
        }
      } catch (e) {
        // No data on screen: say so, with what the page showed, and go on with the next page.
        r.failed = `${String(e).split("\n")[0]}; page text: ${(await c.page.innerText("body")).slice(0, 300)}`;
      }
      r.errors.push(...c.errors);
      await c.ctx.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
