// Drives the built dashboard in Debian's Chromium (playwright-core, no bundled browser) through one scenario and
// prints what it saw as one JSON object on stdout; tests/web/test_dashboard.py decides what is right.
// Usage: node drive.mjs '<json: {scenario: "main" | "auth", base, shots, …scenario arguments}>'
import { launch } from "./chromium.mjs";

const args = JSON.parse(process.argv[2]);
const out = { consoleErrors: [], shots: [] };
const TIMEOUT = 15000;

const browser = await launch();

async function shot(page, name) {
  const path = `${args.shots}/${args.shotPrefix ?? "wd-dashboard-"}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  out.shots.push(path);
}

async function fillQuota(page, q) {
  await page.fill("[data-testid=quota-form] input[name=team]", q.team);
  await page.selectOption("[data-testid=quota-form] select[name=backend]", q.backend ?? "");
  await page.fill("[data-testid=quota-form] input[name=soft]", q.soft);
  await page.fill("[data-testid=quota-form] input[name=hard]", q.hard);
  await page.click("[data-testid=quota-form] button[type=submit]");
}

const rowPaths = (page) => page.$$eval("[data-testid=file-table] tbody tr[data-path]", (trs) => trs.map((tr) => tr.dataset.path));

const scenarios = {
  // Overview, stale data (sort, filter, bulk mark), quotas (bad, good, all-backends + delete), marks review (unmark),
  // user, backend detail, directory tree. args: badQuota, quota, allQuota {team, backend, soft, hard}; staleFilter
  // {min_size, backend, owner}; user; backend; tree {backend, open: a top directory}.
  async main(page) {
    // Overview: from navigation start to the team chart's bars on screen, first with an empty HTTP cache, then
    // a reload with the hashed assets cached. about:blank first, so the renderer's start-up is not counted.
    await page.goto("about:blank");
    await page.addInitScript(() => {
      new MutationObserver((_, obs) => {
        if (document.querySelector("[data-testid=team-table]")) {
          window.__tableShown = Math.round(performance.now());
          obs.disconnect();
        }
      }).observe(document, { childList: true, subtree: true });
    });
    const chartShown = async (go) => {
      const t0 = Date.now();
      await go();
      await page.waitForSelector("[data-testid=team-chart] .recharts-bar-rectangle");
      return Date.now() - t0;
    };
    out.loadMs = await chartShown(() => page.goto(`${args.base}/`));
    out.tableShownMs = await page.evaluate(() => window.__tableShown);
    out.navigation = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      const ends = Object.fromEntries(
        performance.getEntriesByType("resource").map((r) => [new URL(r.name).pathname, [Math.round(r.startTime), Math.round(r.responseEnd)]]),
      );
      return { domContentLoadedMs: Math.round(n.domContentLoadedEventEnd), resourceEndMs: ends };
    });
    out.reloadMs = await chartShown(() => page.reload());
    // The peer figure: the one API call the page needs, fetched alone from the same page (median of 5).
    out.usageFetchMs = await page.evaluate(async () => {
      const times = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await (await fetch("/api/v1/usage?group_by=team&backend=all")).json();
        times.push(performance.now() - t0);
      }
      return Math.round(times.sort((a, b) => a - b)[2]);
    });
    // Every label drawn in the chart's SVG (team names on one axis, sizes on the other), and its bars.
    out.chartLabels = await page.$$eval("[data-testid=team-chart] svg text", (ts) => ts.map((t) => t.textContent));
    out.chartBars = await page.$$eval("[data-testid=team-chart] .recharts-bar-rectangle path", (ps) => ps.length);
    out.tableTeams = await page.$$eval("[data-testid=team-table] tr[data-team]", (trs) => trs.map((tr) => tr.dataset.team));
    out.totalText = await page.textContent("[data-testid=total-bytes]");
    await shot(page, "overview");

    // Stale data: sort by size both ways, bulk-select the first two rows of the descending order, mark them.
    await page.click("nav >> text=Stale data");
    await page.waitForSelector("[data-testid=file-table] tbody tr[data-path]");
    const sizeHeader = "[data-testid=file-table] th[data-col=size]";
    out.staleInitialSort = await page.getAttribute(sizeHeader, "aria-sort");
    const sortTo = async (dir) => {
      for (let was; (was = await page.getAttribute(sizeHeader, "aria-sort")) !== dir; ) {
        await page.click(sizeHeader);
        await page.waitForFunction(([sel, w]) => document.querySelector(sel)?.getAttribute("aria-sort") !== w, [sizeHeader, was]);
      }
      // The header flips at once; the rows are the new order once the table is no longer busy.
      await page.waitForSelector("[data-testid=file-table][aria-busy=false]");
    };
    await sortTo("ascending");
    out.staleAsc = await rowPaths(page);
    await sortTo("descending");
    out.staleDesc = await rowPaths(page);
    out.staleTotalText = await page.textContent("[data-testid=stale-total]");
    const rows = page.locator("[data-testid=file-table] tbody tr[data-path]");
    for (const i of [0, 1]) await rows.nth(i).locator("input[type=checkbox]").check();
    out.selected = await rowPaths(page).then((p) => p.slice(0, 2));
    await page.fill("input[aria-label=note]", "dashboard test");
    await page.click("[data-testid=mark]");
    out.markNotice = await page.textContent(".notice", { timeout: TIMEOUT });
    await page.waitForSelector("[data-testid=file-table] .badge:text('marked')");
    out.markedBadges = await page.$$eval("[data-testid=file-table] tr[data-path]", (trs) =>
      trs.filter((tr) => [...tr.querySelectorAll(".badge")].some((b) => b.textContent === "marked")).map((tr) => tr.dataset.path),
    );
    await shot(page, "stale");
    // Filters: they land in the URL and the API answers only matching files.
    await page.fill("form.filters input[name=min_size]", args.staleFilter.min_size);
    await page.selectOption("form.filters select[name=backend]", args.staleFilter.backend);
    await page.fill("form.filters input[name=owner]", args.staleFilter.owner);
    await page.click("form.filters button[type=submit]");
    await page.waitForURL((u) => u.searchParams.get("owner") === args.staleFilter.owner);
    await page.waitForSelector("[data-testid=file-table][aria-busy=false]");
    out.staleFiltered = await rowPaths(page);

    // Quotas: a bad quota first (the API's error must be shown), then a good one.
    await page.click("nav >> text=Quotas");
    await page.waitForSelector("[data-testid=quota-table]");
    await fillQuota(page, args.badQuota);
    out.quotaError = await page.textContent(".error", { timeout: TIMEOUT });
    await fillQuota(page, args.quota);
    out.quotaNotice = await page.textContent(".notice", { timeout: TIMEOUT });
    await page.waitForSelector(`[data-testid=quota-table] tr[data-team="${args.quota.team}"]`);
    out.quotaRows = await page.$$eval("[data-testid=quota-table] tbody tr[data-team]", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 7).map((td) => td.textContent)),
    );
    await shot(page, "quotas");
    // A second quota over all backends, then deleted again from its row (the confirm dialog is accepted).
    await fillQuota(page, args.allQuota);
    const allRow = `[data-testid=quota-table] tr[data-team="${args.allQuota.team}"]`;
    await page.waitForSelector(allRow);
    out.allQuotaRow = await page.$$eval(`${allRow} td`, (tds) => tds.slice(0, 2).map((td) => td.textContent));
    await page.click(`${allRow} >> text=Delete`);
    await page.waitForSelector(allRow, { state: "detached" });
    out.quotaDeleteNotice = await page.textContent(".notice");

    // Marked files: both marks listed for review; unmark the second one.
    await page.click("nav >> text=Marked");
    await page.waitForSelector("[data-testid=marks-table] tbody tr[data-path]");
    out.marksListed = await page.$$eval("[data-testid=marks-table] tbody tr[data-path]", (trs) => trs.map((tr) => tr.dataset.path));
    await page.check(`[data-testid=marks-table] tr[data-path="${out.selected[1]}"] input[type=checkbox]`);
    await page.click("text=Unmark 1");
    await page.waitForSelector(`[data-testid=marks-table] tr[data-path="${out.selected[1]}"]`, { state: "detached" });
    await shot(page, "marks");

    // User drill-down.
    await page.goto(`${args.base}/users/${encodeURIComponent(args.user)}`);
    await page.waitForSelector("[data-testid=owned-table] tbody tr");
    out.userOwned = await page.$$eval("[data-testid=owned-table] tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent)),
    );
    out.userReads = await page.$$eval("[data-testid=reads-table] tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent)),
    );
    await shot(page, "user");

    // Backend detail (deep link: the API's SPA fallback serves index.html).
    await page.goto(`${args.base}/backends/${encodeURIComponent(args.backend)}`);
    await page.waitForSelector("[data-testid=growth-chart] .recharts-line");
    out.backendCards = await page.$$eval(".card .value", (vs) => vs.map((v) => v.textContent));
    out.growthLabels = await page.$$eval("[data-testid=growth-chart] svg text", (ts) => ts.map((t) => t.textContent));
    out.coverageHoles = await page.$$eval("[data-testid=coverage-holes] li", (ls) => ls.map((l) => l.textContent));
    await shot(page, "backend");

    // Directory tree: a backend's root, then into a directory by clicking it, then its stale files.
    const treeRows = () =>
      page.$$eval("[data-testid=tree-table] tbody tr", (trs) =>
        trs.map((tr) => [tr.dataset.path, tr.querySelectorAll("td")[4].textContent.trim()]));
    await page.click("text=Browse directories");
    await page.waitForSelector("[data-testid=tree-table] tbody tr");
    out.treeRoot = await treeRows();
    await page.click(`[data-testid=tree-table] tr[data-path="${args.tree.open}"] a`);
    await page.waitForSelector(`[data-testid=tree-table] tbody tr[data-path^="${args.tree.open}/"]`);
    out.treeChild = await treeRows();
    out.breadcrumbs = await page.textContent("[data-testid=breadcrumbs]");
    await shot(page, "tree");
    await page.click("text=Stale files under this directory");
    await page.waitForSelector("[data-testid=file-table] tbody tr[data-path]");
    out.treeStaleUrl = page.url();
    out.treeStalePaths = await rowPaths(page);
  },

  // Quotas (issue 16): units as typed, a confirmation for a team nobody is in, bars with the soft mark (red past hard),
  // teams over a limit on top of the Overview, refreshed without a reload. args: typed, ghost, over, later {team,
  // backend, soft, hard}.
  async quotas(page) {
    const bar = (sel) =>
      page.$eval(sel, (el) => {
        const q = el.querySelector(".quota-bar");
        return { over: q.dataset.over, pct: q.querySelector(".pct").textContent, soft: q.querySelector(".soft-mark").style.left,
                 red: getComputedStyle(q.querySelector(".bar > span")).backgroundColor };
      });
    await page.goto(`${args.base}/quotas`);
    await page.waitForSelector("[data-testid=quota-table]");
    out.hardHelp = await page.textContent("[data-testid=hard-limit-help]");
    await fillQuota(page, args.typed);
    out.typedNotice = await page.textContent(".notice");
    const typedRow = `[data-testid=quota-table] tr[data-team="${args.typed.team}"]`;
    await page.waitForSelector(typedRow);
    out.typedCells = await page.$$eval(`${typedRow} td`, (tds) => tds.slice(0, 5).map((td) => td.textContent));
    await page.click(`${typedRow} >> text=Edit`);
    out.typedEdit = [await page.inputValue("input[name=soft]"), await page.inputValue("input[name=hard]")];
    await page.click("text=Clear");
    await fillQuota(page, args.ghost);  // nobody is in it: the API answers 409, the page asks, the dialog is accepted
    out.ghostNotice = await page.textContent(".notice");
    await fillQuota(page, args.over);
    const overRow = `[data-testid=quota-table] tr[data-team="${args.over.team}"]`;
    await page.waitForSelector(overRow);
    out.overBar = await bar(overRow);
    out.typedBar = await bar(typedRow);
    await shot(page, "quota-bars");

    await page.click("nav >> text=Overview");
    await page.waitForSelector("[data-testid=quota-alerts]");
    out.alertsFirst = await page.evaluate(() => {
      const main = document.querySelector("main") ?? document.body;
      const alerts = document.querySelector("[data-testid=quota-alerts]");
      const chart = document.querySelector("[data-testid=team-chart]");
      return { beforeChart: !!chart && !!(alerts.compareDocumentPosition(chart) & Node.DOCUMENT_POSITION_FOLLOWING), inMain: main.contains(alerts) };
    });
    out.alertTeams = await page.$$eval("[data-testid=quota-alerts] tr[data-team]", (trs) => trs.map((tr) => [tr.dataset.team, tr.dataset.backend]));
    // Someone else pushes another team over its hard limit; the Overview shows it without a reload.
    const t0 = Date.now();
    const r = await page.request.put(`${args.base}/api/v1/quota`, { data: args.later });
    out.laterStatus = r.status();
    await page.waitForSelector(`[data-testid=quota-alerts] tr[data-team="${args.later.team}"]`, { timeout: 20000 });
    out.refreshMs = Date.now() - t0;
    out.alertTeamsLater = await page.$$eval("[data-testid=quota-alerts] tr[data-team]", (trs) => trs.map((tr) => [tr.dataset.team, tr.dataset.backend]));
    out.alertText = await page.textContent("[data-testid=quota-alerts]");
    await shot(page, "overview-quota-alerts");
  },

  // Issue 20 on a demo-like estate: every page with real figures (screenshots at 1300 px and 390 px), navigation by
  // links alone (team → member → backend → directory → stale), the stale CSV export, select all N + mark, keyboard
  // sorting, the marks page, the status page. args: team, member.
  async pages(page) {
    const noLoading = () => page.waitForFunction(() => !document.querySelector("[data-testid=loading]"));
    const texts = (sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent.trim()));
    out.pages = {};
    const visit = async (name, path, ready) => {
      await page.goto(`${args.base}${path}`);
      await page.waitForSelector(ready);
      await noLoading();
      out.pages[name] = { h1: await page.textContent("h1"), errors: await texts(".error") };
      await shot(page, name);
    };
    await visit("overview", "/", "[data-testid=team-chart] .recharts-bar-rectangle");
    await page.waitForSelector("[data-testid=stale-alert]");
    out.staleAlert = await page.textContent("[data-testid=stale-alert]");
    out.asOf = await page.textContent("[data-testid=as-of]");
    await page.waitForSelector("[data-testid=growth-30days]");
    out.growth30 = await page.textContent("[data-testid=growth-30days]");
    out.overviewTeamLinks = await page.$$eval("[data-testid=team-table] a.team-link", (as) => as.map((a) => a.getAttribute("href")));

    // Links alone: a team from the overview, a member, one of the member's backends, its directories, stale files.
    await page.click(`[data-testid=team-table] a.team-link:text-is("${args.team}")`);
    await page.waitForSelector("[data-testid=team-members] tbody tr[data-user]");
    await noLoading();
    out.teamUrl = new URL(page.url()).pathname;
    out.teamTotal = await page.textContent("[data-testid=team-total]");
    out.teamStale = await page.textContent("[data-testid=team-stale]");
    out.teamBackends = await page.$$eval("[data-testid=team-backends] tbody tr", (trs) => trs.map((tr) => tr.dataset.backend));
    out.teamMembers = await page.$$eval("[data-testid=team-members] tbody tr", (trs) => trs.map((tr) => tr.dataset.user));
    out.teamQuota = await texts("[data-testid=team-quotas] tbody .badge");
    await page.waitForSelector("[data-testid=growth-chart] .recharts-line");
    await shot(page, "team");
    await page.click(`[data-testid=team-members] a.user-link:text-is("${args.member}")`);
    await page.waitForSelector("[data-testid=owned-table] tbody tr");
    out.userUrl = new URL(page.url()).pathname;
    out.userTeams = await texts("[data-testid=user-teams] a.team-link");
    await shot(page, "user");
    await page.click("[data-testid=owned-table] a.backend-link");
    await page.waitForSelector("[data-testid=growth-chart] .recharts-line");
    out.backendUrl = new URL(page.url()).pathname;
    await shot(page, "backend");
    await page.click("text=Browse directories");
    await page.waitForSelector("[data-testid=tree-table] tbody tr");
    await page.click(`[data-testid=tree-table] tr[data-path="${args.team}"] a`);
    await page.waitForSelector(`[data-testid=tree-table] tbody tr[data-path^="${args.team}/"]`);
    await shot(page, "tree");
    await page.click("text=Stale files under this directory");
    await page.waitForSelector("[data-testid=file-table] tbody tr[data-path]");
    out.treeStaleUrl = page.url();

    // Users list: ranked by storage, then searched.
    await visit("users", "/users", "[data-testid=users-table] tbody tr[data-user]");
    out.usersRanked = await page.$$eval("[data-testid=users-table] tbody tr", (trs) => trs.map((tr) => tr.dataset.user));
    await page.fill("form[role=search] input[name=search]", args.member.slice(0, 3).toUpperCase());
    await page.click("form[role=search] button[type=submit]");
    await page.waitForURL((u) => u.searchParams.get("search") !== null);
    // The searched page is on screen once the total names the search (the old rows stay, not busy, for the moment
    // between the URL's change and the new request) and nothing is loading.
    await page.waitForFunction(
      () =>
        document.querySelector("[data-testid=users-total]")?.textContent?.includes("matching") &&
        document.querySelector("[data-testid=users-table]")?.getAttribute("aria-busy") === "false",
    );
    out.usersSearched = await page.$$eval("[data-testid=users-table] tbody tr", (trs) => trs.map((tr) => tr.dataset.user));
    await visit("teams", "/teams", "[data-testid=teams-table] tbody tr");
    out.teamsListed = await page.$$eval("[data-testid=teams-table] tbody tr", (trs) => trs.map((tr) => tr.dataset.team));

    // Stale: sort by Modified from the keyboard, export CSV, select all N matching and mark them.
    await visit("stale", `/stale?owner=${args.team}`, "[data-testid=file-table] tbody tr[data-path]");
    out.staleTotal = await page.textContent("[data-testid=stale-total]");
    await page.focus("[data-testid=file-table] th[data-col=last_modified]");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.searchParams.get("sort") === "last_modified");
    // The header shows the new sort in the render that starts loading it; then the rows are the new order.
    await page.waitForSelector("[data-testid=file-table] th[data-col=last_modified]:is([aria-sort=ascending], [aria-sort=descending])");
    await page.waitForSelector("[data-testid=file-table][aria-busy=false]");
    out.keyboardSort = [new URL(page.url()).searchParams.get("sort"), new URL(page.url()).searchParams.get("order"),
      await page.getAttribute("[data-testid=file-table] th[data-col=last_modified]", "aria-sort")];
    out.modifiedColumn = await page.$$eval("[data-testid=file-table] tbody tr[data-path]", (trs) => trs.map((tr) => tr.dataset.path));
    const href = await page.getAttribute("[data-testid=export-csv]", "href");
    out.exportHref = href;
    out.exportCsv = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    await page.check("[data-testid=file-table] thead input[type=checkbox]");
    await page.click("[data-testid=select-all-matching]");
    out.selectedText = await page.textContent("[data-testid=selected-count]");
    await page.fill("input[aria-label=note]", "all of them");
    await page.click("[data-testid=mark]");
    out.markAllNotice = await page.textContent(".notice", { timeout: TIMEOUT });

    // Marks: every mark listed with its totals; the read-since filter; the export link.
    await visit("marks", "/marks", "[data-testid=marks-table] tbody tr[data-path]");
    out.marksTotal = await page.textContent("[data-testid=marks-total]");
    out.marksExport = await page.evaluate(async () => (await fetch(document.querySelector("[data-testid=marks-export]").getAttribute("href"))).text());

    // Status: agents, backends' reachability, jobs with progress and the dry-run flag.
    await visit("status", "/status", "[data-testid=job-table] tbody tr");
    out.agents = await page.$$eval("[data-testid=agent-table] tbody tr", (trs) =>
      trs.map((tr) => [tr.dataset.node, ...[...tr.querySelectorAll("td")].map((td) => td.textContent.trim())]));
    out.jobs = await page.$$eval("[data-testid=job-table] tbody tr", (trs) =>
      trs.map((tr) => [tr.dataset.job, tr.dataset.state, ...[...tr.querySelectorAll("td")].map((td) => td.textContent.trim())]));
    await page.waitForSelector("[data-testid=dead-letters]");
    out.deadLetters = await page.textContent("[data-testid=dead-letters]");
    await visit("quotas", "/quotas", "[data-testid=quota-table]");
    await visit("backends", "/backends", "[data-testid=backend-table] tbody tr");

    // 390 px: no page is wider than the screen (tables scroll inside their box).
    await page.setViewportSize({ width: 390, height: 844 });
    out.narrow = {};
    for (const [name, path, ready] of [
      ["overview", "/", "[data-testid=team-table]"], ["stale", "/stale", "[data-testid=file-table]"],
      ["users", "/users", "[data-testid=users-table]"], ["status", "/status", "[data-testid=job-table]"],
      ["team", `/teams/${args.team}`, "[data-testid=team-members]"], ["marks", "/marks", "[data-testid=marks-table]"],
    ]) {
      await page.goto(`${args.base}${path}`);
      await page.waitForSelector(ready);
      await noLoading();
      out.narrow[name] = await page.evaluate(() => document.documentElement.scrollWidth);
      await shot(page, `${name}-390`);
    }
  },

  // Honest states: while the API is slow, "Loading…" (never "0 files" or "Nothing is marked"); when it is down, the
  // error alone (no older rows under it).
  async states(page) {
    // While `holding`, every API request waits until the page's loading state has been read (a page starts its
    // requests early, while its code loads: a fixed delay could be over before the page is on screen).
    let holding = true;
    let down = false;
    const held = [];
    await page.route("**/api/v1/**", async (route) => {
      if (down) return route.abort("connectionrefused");
      if (holding) await new Promise((release) => held.push(release));
      return route.continue();
    });
    out.loading = {};
    for (const [name, path] of [["stale", "/stale"], ["marks", "/marks"], ["users", "/users"], ["status", "/status"]]) {
      await page.goto(`${args.base}${path}`);
      await page.waitForSelector("[data-testid=loading]");
      out.loading[name] = { loading: await page.textContent("[data-testid=loading]"), body: await page.textContent("main") };
      for (const release of held.splice(0)) release();
    }
    holding = false;
    await page.goto(`${args.base}/stale`);
    await page.waitForSelector("[data-testid=file-table] tbody tr[data-path]");
    down = true;
    await page.fill("form.filters input[name=min_size]", "1GiB");
    await page.click("form.filters button[type=submit]");
    await page.waitForSelector(".error");
    out.downError = await page.textContent(".error");
    out.rowsUnderError = await page.$$eval("[data-testid=file-table] tbody tr[data-path]", (trs) => trs.length);
    out.totalUnderError = await page.$$eval("[data-testid=stale-total]", (es) => es.length);
    await shot(page, "api-down");
  },

  // With auth on: no token → readable 401; a viewer token → pages load, a mutation → readable 403.
  // args: viewerToken, quota.
  async auth(page) {
    await page.goto(`${args.base}/`);
    out.noTokenError = await page.textContent(".error");
    await page.fill("input[aria-label='API token']", args.viewerToken);
    await page.click("text=Use token");
    await page.waitForSelector("[data-testid=team-chart] .recharts-bar-rectangle");
    out.storedToken = await page.evaluate(() => localStorage.getItem("warpdrive.token"));
    await page.click("nav >> text=Quotas");
    await page.waitForSelector("[data-testid=quota-table]");
    await fillQuota(page, args.quota);
    out.viewerMutationError = await page.textContent(".error");
    await shot(page, "auth");
    // The token survives a reload (localStorage), so the page loads without asking again.
    await page.reload();
    await page.waitForSelector("[data-testid=quota-table]");
    out.errorsAfterReload = await page.$$eval(".error", (es) => es.map((e) => e.textContent));
  },
  // The deletion job on the Marks page (tests/web/test_deletion.py). args.step: "plan" (dry run only), "delete" (dry
  // run, confirm, until the job's trash is restorable) or "restore" (the newest job's Restore, until restored);
  // args.waitMs bounds the wait for a job (the real crawler runs it).
  async deletion(page) {
    await page.goto(`${args.base}/marks`);
    await page.waitForSelector("[data-testid=trash-table]");
    const statusOf = () => page.$$eval("[data-testid=trash-table] tbody tr[data-job]", (trs) => trs.map((tr) => [tr.dataset.job, tr.dataset.status]));
    out.before = await statusOf();
    if (args.step === "plan" || args.step === "delete") {
      await page.click("[data-testid=dry-run]");
      await page.waitForSelector("[data-testid=plan-total]");
      out.planTotal = await page.textContent("[data-testid=plan-total]");
      out.planFiles = await page.$$eval("[data-testid=plan-files] tbody tr[data-path]", (trs) => trs.map((tr) => tr.dataset.path));
      out.planHeld = await page.$$eval("[data-testid=plan-held] tbody tr[data-path]", (trs) => trs.map((tr) => tr.dataset.path));
      await shot(page, "deletion-dry-run");
    }
    if (args.step === "delete") {
      await page.click("[data-testid=delete]");
      out.confirm = await page.textContent("[data-testid=confirm]");
      await shot(page, "deletion-confirm");
      await page.click("[data-testid=confirm-delete]");
      out.notice = await (await page.waitForSelector("[data-testid=deletion-notice]:has-text('Deletion job')")).textContent();
      await page.waitForSelector("[data-testid=trash-table] tbody tr[data-status=restorable]", { timeout: args.waitMs });
      out.after = await statusOf();
      await shot(page, "deletion-trash");
    }
    if (args.step === "restore") {
      await page.click("[data-testid=trash-table] tbody tr[data-status=restorable] [data-testid=restore]");
      await page.waitForSelector("[data-testid=trash-table] tbody tr[data-status=restored]", { timeout: args.waitMs });
      out.after = await statusOf();
      await shot(page, "deletion-restored");
      // The Status page's jobs list audits them: kind, state, who.
      await page.goto(`${args.base}/status`);
      await page.waitForSelector("[data-testid=job-table]");
      out.jobs = await page.$$eval("[data-testid=job-table] tbody tr[data-job]", (trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())));
    }
  },
};

try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => m.type() === "error" && out.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  page.on("dialog", (d) => {
    (out.dialogs ??= []).push(d.message());
    d.accept();
  });

  await scenarios[args.scenario](page);
} catch (e) {
  out.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
