import { Link } from "react-router-dom";
import type { GrowthPoint } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { BackendLink, TeamLink } from "../components/Links";
import { ErrorBox } from "../components/ErrorBox";
import { QuotaAlerts } from "../components/QuotaAlerts";
import { Size, formatBytes, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { StorageChart, type TeamBar, pivotByTeam } from "../components/StorageChart";
import { overview } from "../opening";
import { UNOWNED } from "../owners";
import { useApi } from "../useApi";

/** Storage by team across every backend, each byte counted once; `unowned` is a team of its own. */
export function Overview() {
  const usage = useApi(overview().usage, []);
  const u = usage.data;
  const teams = u ? pivotByTeam(u.items) : undefined;
  // Latest access per team over its backends (RFC 3339 UTC strings compare in time order).
  const lastAccess = new Map<string, string>();
  for (const it of u?.items ?? []) {
    const team = it.team ?? UNOWNED;
    const prev = lastAccess.get(team);
    if (it.last_access && (!prev || it.last_access > prev)) lastAccess.set(team, it.last_access);
  }
  return (
    <>
      <Alerts totalBytes={u?.total_bytes} />
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
          <DataTable
            rows={teams.bars}
            columns={[
              {
                header: "Team",
                cell: (bar) => (
                  <>
                    <TeamLink team={bar.team} />{" "}
                    <Link to={`/stale?owner=${encodeURIComponent(bar.team)}`} className="muted small" title="stale files of this team">
                      stale
                    </Link>
                  </>
                ),
              },
              ...teams.backends.map(
                (b): Column<TeamBar> => ({
                  key: b,
                  header: <BackendLink backend={b} />,
                  num: true,
                  cell: (bar) => <Size bytes={(bar[b] as number | undefined) ?? 0} />,
                }),
              ),
              { key: "total", header: "Total", num: true, cell: (bar) => <Size bytes={bar.total} /> },
              { key: "last", header: "Last access (UTC)", cell: (bar) => formatTime(lastAccess.get(bar.team)) },
            ]}
            rowKey={(bar) => bar.team}
            rowProps={(bar) => ({ "data-team": bar.team })}
            testId="team-table"
          />
        </>
      )}
    </>
  );
}

/** Change of the total over the last `days` days of a daily series, as "+X %" (null without a start to compare). */
export function growthOver(points: GrowthPoint[], days: number): { bytes: number; pct: number | null } | null {
  if (points.length < 2) return null;
  const last = points[points.length - 1];
  const first = points[Math.max(0, points.length - 1 - days)];
  const bytes = last.total_bytes - first.total_bytes;
  return { bytes, pct: first.total_bytes > 0 ? (100 * bytes) / first.total_bytes : null };
}

function Change({ label, change }: { label: string; change: ReturnType<typeof growthOver> }) {
  if (!change) return <span className="muted">{label}: no history yet</span>;
  const sign = change.bytes >= 0 ? "+" : "−";
  return (
    <span data-testid={`growth-${label.replace(/\W+/g, "")}`}>
      {label}: {change.pct === null ? "new" : `${sign}${Math.abs(change.pct).toFixed(1)} %`} ({sign}
      {formatBytes(Math.abs(change.bytes))})
    </span>
  );
}

/** What an admin should look at first: stale bytes and their share, growth over 7 and 30 days, as of the last crawl. */
function Alerts({ totalBytes }: { totalBytes: number | undefined }) {
  const opens = overview();
  const stale = useApi(opens.stale, []);
  const growth = useApi(opens.growth, []);
  const backends = useApi(opens.backends, []);
  const lastCrawl = (backends.data ?? [])
    .map((b) => b.last_crawl?.finished_at)
    .filter((t): t is string => !!t)
    .sort()
    .pop();
  return (
    <section className="alerts" aria-label="alerts" data-testid="alerts">
      {stale.error ? (
        <ErrorBox error={stale.error} />
      ) : stale.data && totalBytes !== undefined ? (
        <span className={stale.data.total_bytes > 0 ? "alert warn" : "alert"} data-testid="stale-alert">
          <Link to="/stale">
            <Size bytes={stale.data.total_bytes} />
            {stale.data.total_exact === false ? "+" : ""} stale
          </Link>{" "}
          ({formatCount(stale.data.total)}
          {stale.data.total_exact === false ? "+" : ""} files not used for 90 days, {formatShare(stale.data.total_bytes, totalBytes)} of
          all storage)
        </span>
      ) : (
        <span className="muted">Loading stale totals…</span>
      )}
      {growth.error ? (
        <ErrorBox error={growth.error} />
      ) : growth.data ? (
        <span className="alert">
          Growth <Change label="7 days" change={growthOver(growth.data.points, 7)} /> ·{" "}
          <Change label="30 days" change={growthOver(growth.data.points, 30)} />
        </span>
      ) : null}
      <span className="muted" data-testid="as-of">
        {lastCrawl ? `as of the last crawl, ${formatTime(lastCrawl)}` : backends.data ? "no crawl has finished yet" : ""}
      </span>
    </section>
  );
}
