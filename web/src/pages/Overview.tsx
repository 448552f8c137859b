import { Link } from "react-router-dom";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { QuotaAlerts } from "../components/QuotaAlerts";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { StorageChart, pivotByTeam } from "../components/StorageChart";
import { useApi } from "../useApi";

/** Storage by team across every backend, each byte counted once; `unowned` is a team of its own. */
export function Overview() {
  const usage = useApi(() => api.usage("team", "all"), []);
  const u = usage.data;
  const teams = u ? pivotByTeam(u.items) : undefined;
  // Latest access per team over its backends (RFC 3339 UTC strings compare in time order).
  const lastAccess = new Map<string, string>();
  for (const it of u?.items ?? []) {
    const team = it.team ?? "unowned";
    const prev = lastAccess.get(team);
    if (it.last_access && (!prev || it.last_access > prev)) lastAccess.set(team, it.last_access);
  }
  return (
    <>
      <h1>Storage by team</h1>
      <QuotaAlerts />
      <ErrorBox error={usage.error} />
      {usage.loading && !u && <p className="muted">Loading…</p>}
      {u && teams && (
        <>
          <div className="cards">
            <div className="card">
              <div className="label">Total, all backends</div>
              <div className="value" data-testid="total-bytes">
                <Size bytes={u.total_bytes} />
              </div>
            </div>
            <div className="card">
              <div className="label">Files</div>
              <div className="value">{formatCount(u.file_count)}</div>
            </div>
            <div className="card">
              <div className="label">Teams</div>
              <div className="value">{teams.bars.length}</div>
            </div>
            <div className="card">
              <div className="label">Backends with data</div>
              <div className="value">{teams.backends.length}</div>
            </div>
          </div>
          <StorageChart items={u.items} />
          <h2>Teams</h2>
          <table className="grid" data-testid="team-table">
            <thead>
              <tr>
                <th>Team</th>
                {teams.backends.map((b) => (
                  <th key={b} className="num">
                    <Link to={`/backends/${encodeURIComponent(b)}`}>{b}</Link>
                  </th>
                ))}
                <th className="num">Total</th>
                <th>Last access</th>
              </tr>
            </thead>
            <tbody>
              {teams.bars.map((bar) => (
                <tr key={bar.team} data-team={bar.team}>
                  <td>
                    <Link to={`/stale?owner=${encodeURIComponent(bar.team)}`} title="stale files of this team">
                      {bar.team}
                    </Link>
                  </td>
                  {teams.backends.map((b) => (
                    <td key={b} className="num">
                      <Size bytes={(bar[b] as number | undefined) ?? 0} />
                    </td>
                  ))}
                  <td className="num">
                    <Size bytes={bar.total} />
                  </td>
                  <td>{formatTime(lastAccess.get(bar.team))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
