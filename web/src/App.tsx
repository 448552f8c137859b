import { type ReactNode, Suspense, lazy, useState } from "react";
import { NavLink, Route, Routes, useLocation, useParams, useSearchParams } from "react-router-dom";
import { getToken, setToken, startEarly } from "./api";
import * as opening from "./opening";

// Every page is its own chunk, loaded on first visit: the main bundle is the shell (React, the router, the API
// client), and the chart library comes only with the pages that draw charts.
const Overview = lazy(() => import("./pages/Overview").then((m) => ({ default: m.Overview })));
const BackendList = lazy(() => import("./pages/BackendDetail").then((m) => ({ default: m.BackendList })));
const BackendDetail = lazy(() => import("./pages/BackendDetail").then((m) => ({ default: m.BackendDetail })));
const Marks = lazy(() => import("./pages/Marks").then((m) => ({ default: m.Marks })));
const Quotas = lazy(() => import("./pages/Quotas").then((m) => ({ default: m.Quotas })));
const StaleData = lazy(() => import("./pages/StaleData").then((m) => ({ default: m.StaleData })));
const TreePage = lazy(() => import("./pages/Tree").then((m) => ({ default: m.TreePage })));
const UserDetail = lazy(() => import("./pages/UserDetail").then((m) => ({ default: m.UserDetail })));
// issue 20: status, teams and the users list
const Status = lazy(() => import("./pages/Status").then((m) => ({ default: m.Status })));
const TeamList = lazy(() => import("./pages/Teams").then((m) => ({ default: m.TeamList })));
const TeamDetail = lazy(() => import("./pages/Teams").then((m) => ({ default: m.TeamDetail })));
const UserList = lazy(() => import("./pages/Users").then((m) => ({ default: m.UserList })));

let openedPath: string | undefined;

/**
 * Starts the page's opening requests (opening.ts) the moment its route matches, so they run while its code chunk
 * loads, instead of after it. Done while rendering (not in an effect: the page's own effects would run first) and
 * once per path: a render again (Suspense retries the whole route once the chunk is in) must not ask twice, and a new
 * query string on the same page is the page's own to fetch.
 */
function Opens({ requests, children }: { requests: opening.Opening; children: ReactNode }) {
  const params = useParams();
  const [search] = useSearchParams();
  const { pathname } = useLocation();
  if (openedPath !== pathname) {
    openedPath = pathname;
    startEarly(Object.values(requests(params, search)));
  }
  return children;
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
            <Route path="/" element={<Opens requests={opening.overview}><Overview /></Opens>} />
            <Route path="/backends" element={<Opens requests={opening.backendList}><BackendList /></Opens>} />
            <Route
              path="/backends/:name"
              element={<Opens requests={(p) => opening.backendDetail(p.name ?? "")}><BackendDetail /></Opens>}
            />
            <Route path="/tree" element={<Opens requests={opening.treeRoot}><TreePage /></Opens>} />
            <Route
              path="/tree/:backend"
              element={<Opens requests={(p, q) => opening.treeDir(p.backend ?? "", q)}><TreePage /></Opens>}
            />
            <Route path="/stale" element={<Opens requests={(_, q) => opening.stale(q)}><StaleData /></Opens>} />
            <Route path="/marks" element={<Opens requests={opening.marks}><Marks /></Opens>} />
            <Route path="/users" element={<Opens requests={(_, q) => opening.users(q)}><UserList /></Opens>} />
            <Route path="/teams" element={<Opens requests={opening.teamList}><TeamList /></Opens>} />
            <Route
              path="/teams/:team"
              element={<Opens requests={(p) => opening.teamDetail(p.team ?? "")}><TeamDetail /></Opens>}
            />
            <Route path="/status" element={<Opens requests={opening.status}><Status /></Opens>} />
            <Route
              path="/users/:userId"
              element={<Opens requests={(p) => opening.user(p.userId ?? "")}><UserDetail /></Opens>}
            />
            <Route path="/quotas" element={<Opens requests={opening.quotas}><Quotas /></Opens>} />
            <Route path="*" element={<p>No such page.</p>} />
          </Routes>
        </Suspense>
      </main>
    </>
  );
}
