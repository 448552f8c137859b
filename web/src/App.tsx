import { Suspense, lazy, useState } from "react";
import { NavLink, Route, Routes } from "react-router-dom";
import { getToken, setToken } from "./api";
import { Overview } from "./pages/Overview";

// The landing page is in the main bundle; the others load on first visit (the table library only with them).
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
            <Route path="/" element={<Overview />} />
            <Route path="/backends" element={<BackendList />} />
            <Route path="/backends/:name" element={<BackendDetail />} />
            <Route path="/tree" element={<TreePage />} />
            <Route path="/tree/:backend" element={<TreePage />} />
            <Route path="/stale" element={<StaleData />} />
            <Route path="/marks" element={<Marks />} />
            <Route path="/users" element={<UserList />} />
            <Route path="/teams" element={<TeamList />} />
            <Route path="/teams/:team" element={<TeamDetail />} />
            <Route path="/status" element={<Status />} />
            <Route path="/users/:userId" element={<UserDetail />} />
            <Route path="/quotas" element={<Quotas />} />
            <Route path="*" element={<p>No such page.</p>} />
          </Routes>
        </Suspense>
      </main>
    </>
  );
}
