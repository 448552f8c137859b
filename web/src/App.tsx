import { type ComponentType, Suspense, lazy, useState } from "react";
import { NavLink, Route, Routes, useLocation, useParams, useSearchParams } from "react-router-dom";
import { getToken, setToken, startEarly } from "./api";
import * as opening from "./opening";

interface Page {
  /** Fetches the page's chunk (and what it imports); the same promise every time. */
  load: () => Promise<unknown>;
  Page: ComponentType;
}

/** A page in its own chunk, loaded on first visit: `name` is the component the chunk exports. */
function page<M extends Record<string, unknown>>(load: () => Promise<M>, name: keyof M): Page {
  return { load, Page: lazy(async () => ({ default: (await load())[name] as ComponentType })) };
}

// The main bundle is the shell (React, the router, the API client); the chart library comes only with the pages that
// draw charts (vite.config.ts).
const backendPages = () => import("./pages/BackendDetail");
const teamPages = () => import("./pages/Teams");
const Overview = page(() => import("./pages/Overview"), "Overview");
const BackendList = page(backendPages, "BackendList");
const BackendDetail = page(backendPages, "BackendDetail");
const Marks = page(() => import("./pages/Marks"), "Marks");
const Quotas = page(() => import("./pages/Quotas"), "Quotas");
const StaleData = page(() => import("./pages/StaleData"), "StaleData");
const TreePage = page(() => import("./pages/Tree"), "TreePage");
const UserDetail = page(() => import("./pages/UserDetail"), "UserDetail");
const Status = page(() => import("./pages/Status"), "Status");
const TeamList = page(teamPages, "TeamList");
const TeamDetail = page(teamPages, "TeamDetail");
const UserList = page(() => import("./pages/Users"), "UserList");

let openedPath: string | undefined;

/**
 * A page at its route: the moment the route matches, its chunk is asked for and then its opening requests
 * (opening.ts) are sent, so they are answered while the chunk loads instead of after it (chunk first: the browser
 * keeps six connections per host, and the page cannot start without its code). Done while rendering (not in an
 * effect: a loaded page's own effects would run first) and once per path: a render again (Suspense retries the route
 * once the chunk is in) must not ask twice, and a new query string on the same page is the page's own to fetch.
 */
function Opens({ page, requests }: { page: Page; requests: opening.Opening }) {
  const params = useParams();
  const [search] = useSearchParams();
  const { pathname } = useLocation();
  if (openedPath !== pathname) {
    openedPath = pathname;
    page.load().catch(() => undefined); // a chunk that fails to load is the lazy component's error to show
    startEarly(Object.values(requests(params, search)));
  }
  return <page.Page />;
}

/** The bearer token lives in localStorage; changing it remounts the pages so they refetch with it. */
function TokenField({ onChange }: { onChange: () => void }) {
  const [value, setValue] = useState(getToken());
  return (
    <form
      className="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        onChange();
      }}
    >
      <input
        type="password"
        placeholder="API token"
        aria-label="API token"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        autoComplete="off"
      />
      <button type="submit">Use token</button>
    </form>
  );
}

export function App() {
  const [generation, setGeneration] = useState(0);
  return (
    <>
      <header>
        <span className="brand">WarpDrive Governance</span>
        <nav>
          <NavLink to="/" end>
            Overview
          </NavLink>
          <NavLink to="/backends">Backends</NavLink>
          <NavLink to="/tree">Directories</NavLink>
          <NavLink to="/stale">Stale data</NavLink>
          <NavLink to="/marks">Marked</NavLink>
          <NavLink to="/teams">Teams</NavLink>
          <NavLink to="/users">Users</NavLink>
          <NavLink to="/quotas">Quotas</NavLink>
          <NavLink to="/status">Status</NavLink>
        </nav>
        <TokenField onChange={() => setGeneration((g) => g + 1)} />
      </header>
      <main key={generation}>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Routes>
            <Route path="/" element={<Opens page={Overview} requests={opening.overview} />} />
            <Route path="/backends" element={<Opens page={BackendList} requests={opening.backendList} />} />
            <Route
              path="/backends/:name"
              element={<Opens page={BackendDetail} requests={(p) => opening.backendDetail(p.name ?? "")} />}
            />
            <Route path="/tree" element={<Opens page={TreePage} requests={opening.treeRoot} />} />
            <Route
              path="/tree/:backend"
              element={<Opens page={TreePage} requests={(p, q) => opening.treeDir(p.backend ?? "", q)} />}
            />
            <Route path="/stale" element={<Opens page={StaleData} requests={(_, q) => opening.stale(q)} />} />
            <Route path="/marks" element={<Opens page={Marks} requests={opening.marks} />} />
            <Route path="/users" element={<Opens page={UserList} requests={(_, q) => opening.users(q)} />} />
            <Route path="/teams" element={<Opens page={TeamList} requests={opening.teamList} />} />
            <Route
              path="/teams/:team"
              element={<Opens page={TeamDetail} requests={(p) => opening.teamDetail(p.team ?? "")} />}
            />
            <Route path="/status" element={<Opens page={Status} requests={opening.status} />} />
            <Route
              path="/users/:userId"
              element={<Opens page={UserDetail} requests={(p) => opening.user(p.userId ?? "")} />}
            />
            <Route path="/quotas" element={<Opens page={Quotas} requests={opening.quotas} />} />
            <Route path="*" element={<p>No such page.</p>} />
          </Routes>
        </Suspense>
      </main>
    </>
  );
}
