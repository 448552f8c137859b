import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import type { Quota, UsageItem } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { GrowthChart } from "../components/GrowthChart";
import { BackendLink, TeamLink, UserLink } from "../components/Links";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { Loading } from "../components/States";
import { teamDetail, teamList } from "../opening";
import { useApi } from "../useApi";

const teamColumns = (allBytes: number): Column<UsageItem>[] => [
  { header: "Team", cell: (it) => <TeamLink team={it.team} /> },
  { header: "Size", num: true, cell: (it) => <Size bytes={it.total_bytes} /> },
  { header: "Share", num: true, cell: (it) => formatShare(it.total_bytes, allBytes) },
  { header: "Files", num: true, cell: (it) => formatCount(it.file_count) },
  {
    header: "Backends",
    cell: (it) =>
      (it.backends ?? []).map((b) => (
        <span key={b} className="sep">
          <BackendLink backend={b} />
        </span>
      )),
  },
  { header: "Last access (UTC)", cell: (it) => formatTime(it.last_access) },
];

const backendColumns = (team: string): Column<UsageItem>[] => [
  { header: "Backend", cell: (it) => <BackendLink backend={it.backend ?? ""} /> },
  { header: "Size", num: true, cell: (it) => <Size bytes={it.total_bytes} /> },
  { header: "Files", num: true, cell: (it) => formatCount(it.file_count) },
  { header: "Last access (UTC)", cell: (it) => formatTime(it.last_access) },
  {
    header: null,
    cell: (it) => (
      <Link to={`/stale?owner=${encodeURIComponent(team)}&backend=${encodeURIComponent(it.backend ?? "")}`}>stale</Link>
    ),
  },
];

const QUOTA_COLUMNS: Column<Quota>[] = [
  { header: "Backend", cell: (q) => (q.backend ? <BackendLink backend={q.backend} /> : "all") },
  { header: "Usage", num: true, cell: (q) => <Size bytes={q.usage_bytes} /> },
  { header: "Soft", num: true, cell: (q) => <Size bytes={q.soft_limit} /> },
  { header: "Hard", num: true, cell: (q) => <Size bytes={q.hard_limit} /> },
  { header: "Used", num: true, cell: (q) => formatShare(q.usage_bytes, q.hard_limit) },
  {
    header: "Level",
    cell: (q) => <span className={`badge level-${q.level ?? "ok"}`}>{q.level ?? "not evaluated yet"}</span>,
  },
];

const memberColumns = (team: string): Column<UsageItem>[] => [
  { header: "User", cell: (it) => <UserLink user={it.user} /> },
  { header: `Owns in ${team}`, num: true, cell: (it) => <Size bytes={it.total_bytes} /> },
  { header: "Files", num: true, cell: (it) => formatCount(it.file_count) },
  { header: "Read (30 days)", num: true, cell: (it) => <Size bytes={it.bytes_read} /> },
  { header: "Last access (UTC)", cell: (it) => formatTime(it.last_access) },
];

/** Every owning team, largest first, with its backends. */
export function TeamList() {
  const teams = useApi(teamList().teams, []);
  return (
    <>
      <h1>Teams</h1>
      <Loading state={teams} what="teams">
        {(t) =>
          t.items.length === 0 ? (
            <p className="muted">No team owns indexed files yet: crawl a backend and set ownership rules (warpdrive-ctl ownership set).</p>
          ) : (
            <DataTable
              rows={t.items}
              columns={teamColumns(t.total_bytes)}
              rowKey={(it) => it.team}
              rowProps={(it) => ({ "data-team": it.team })}
              testId="teams-table"
            />
          )
        }
      </Loading>
    </>
  );
}

const PERIODS = ["7d", "30d", "90d", "1y"];

/** One team: usage per backend, growth, quota, stale data and members. */
export function TeamDetail() {
  const team = useParams().team ?? "";
  const [period, setPeriod] = useState("30d");
  const opens = teamDetail(team);
  const usage = useApi(opens.usage, [team]);
  const members = useApi(opens.members, [team]);
  const memberships = useApi(opens.memberships, [team]);
  const growth = useApi(() => opens.growth(period), [team, period]);
  const stale = useApi(opens.stale, [team]);
  const quotas = useApi(opens.quotas, []);
  return (
    <>
      <h1>Team {team}</h1>
      <div className="toolbar">
        <Link to={`/stale?owner=${encodeURIComponent(team)}`}>Stale files of {team}</Link>
        <Link to="/quotas">Quotas</Link>
      </div>
      <Loading state={usage} what="usage">
        {(u) => (
          <>
            <div className="cards">
              <div className="card">
                <div className="label">Owns, all backends</div>
                <div className="value" data-testid="team-total">
                  <Size bytes={u.total_bytes} />
                </div>
              </div>
              <div className="card">
                <div className="label">Files</div>
                <div className="value">{formatCount(u.file_count)}</div>
              </div>
              <div className="card">
                <div className="label">Not used for 90 days</div>
                <div className="value" data-testid="team-stale">
                  {stale.error ? "–" : stale.data ? <Size bytes={stale.data.total_bytes} /> : "…"}
                  {stale.data?.total_exact === false ? "+" : ""}
                </div>
                <div className="label">{stale.data ? formatShare(stale.data.total_bytes, u.total_bytes) : ""}</div>
              </div>
            </div>
            {u.items.length === 0 ? (
              <p className="muted">Team {team} owns no indexed files (an ownership rule or a member's files make it an owner).</p>
            ) : (
              <DataTable
                rows={u.items}
                columns={backendColumns(team)}
                rowKey={(it) => it.backend}
                rowProps={(it) => ({ "data-backend": it.backend })}
                testId="team-backends"
              />
            )}
          </>
        )}
      </Loading>
      <h2>Quota</h2>
      <Loading state={quotas} what="quotas">
        {(qs) => {
          const mine = qs.filter((q) => q.team === team);
          return mine.length === 0 ? (
            <p className="muted">No quota is set for {team}: set one on the <Link to="/quotas">Quotas</Link> page.</p>
          ) : (
            <DataTable rows={mine} columns={QUOTA_COLUMNS} rowKey={(q) => q.id} testId="team-quotas" />
          );
        }}
      </Loading>
      <h2>
        Growth{" "}
        <select aria-label="period" value={period} onChange={(e) => setPeriod(e.target.value)}>
          {PERIODS.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </h2>
      <Loading state={growth} what="growth">
        {(g) => <GrowthChart points={g.points} />}
      </Loading>
      <h2>Members</h2>
      <Loading state={members} what="members">
        {(m) => {
          const listed = new Set(m.items.map((i) => i.user));
          const others = (memberships.data?.items ?? []).map((x) => x.user).filter((x) => !listed.has(x));
          return (
            <>
              <DataTable
                rows={m.items}
                columns={memberColumns(team)}
                rowKey={(it) => it.user}
                rowProps={(it) => ({ "data-user": it.user })}
                testId="team-members"
              >
                {others.map((u) => (
                  <tr key={u} data-user={u}>
                    <td>
                      <UserLink user={u} />
                    </td>
                    <td className="num muted" colSpan={4}>
                      member, owns nothing in {team}
                    </td>
                  </tr>
                ))}
                {m.items.length + others.length === 0 && (
                  <tr>
                    <td colSpan={5} className="muted">
                      No members: add one with warpdrive-ctl teams set USER {team}.
                    </td>
                  </tr>
                )}
              </DataTable>
            </>
          );
        }}
      </Loading>
    </>
  );
}
