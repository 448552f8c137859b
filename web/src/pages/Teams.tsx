import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, lists } from "../api";
import { GrowthChart } from "../components/GrowthChart";
import { BackendLink, TeamLink, UserLink } from "../components/Links";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { Loading } from "../components/States";
import { useApi } from "../useApi";

/** Every owning team, largest first, with its backends. */
export function TeamList() {
  const teams = useApi(() => lists.usagePage({ group_by: "team", per_backend: "false", limit: 1000 }), []);
  return (
    <>
      <h1>Teams</h1>
      <Loading state={teams} what="teams">
        {(t) =>
          t.items.length === 0 ? (
            <p className="muted">No team owns indexed files yet: crawl a backend and set ownership rules (warpdrive-ctl ownership set).</p>
          ) : (
            <table className="grid" data-testid="teams-table">
              <thead>
                <tr>
                  <th>Team</th>
                  <th className="num">Size</th>
                  <th className="num">Share</th>
                  <th className="num">Files</th>
                  <th>Backends</th>
                  <th>Last access (UTC)</th>
                </tr>
              </thead>
              <tbody>
                {t.items.map((it) => (
                  <tr key={it.team} data-team={it.team}>
                    <td>
                      <TeamLink team={it.team} />
                    </td>
                    <td className="num">
                      <Size bytes={it.total_bytes} />
                    </td>
                    <td className="num">{formatShare(it.total_bytes, t.total_bytes)}</td>
                    <td className="num">{formatCount(it.file_count)}</td>
                    <td>
                      {(it.backends ?? []).map((b) => (
                        <span key={b} className="sep">
                          <BackendLink backend={b} />
                        </span>
                      ))}
                    </td>
                    <td>{formatTime(it.last_access)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
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
  const usage = useApi(() => lists.usagePage({ group_by: "team", team, limit: 1000 }), [team]);
  const members = useApi(() => lists.usagePage({ group_by: "user", team, per_backend: "false", limit: 1000 }), [team]);
  const memberships = useApi(() => lists.members(team), [team]);
  const growth = useApi(() => api.growth("all", period, team), [team, period]);
  const stale = useApi(() => api.stale({ owner: team, limit: 1 }), [team]);
  const quotas = useApi(() => api.quotas(), []);
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
              <table className="grid" data-testid="team-backends">
                <thead>
                  <tr>
                    <th>Backend</th>
                    <th className="num">Size</th>
                    <th className="num">Files</th>
                    <th>Last access (UTC)</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {u.items.map((it) => (
                    <tr key={it.backend} data-backend={it.backend}>
                      <td>
                        <BackendLink backend={it.backend ?? ""} />
                      </td>
                      <td className="num">
                        <Size bytes={it.total_bytes} />
                      </td>
                      <td className="num">{formatCount(it.file_count)}</td>
                      <td>{formatTime(it.last_access)}</td>
                      <td>
                        <Link to={`/stale?owner=${encodeURIComponent(team)}&backend=${encodeURIComponent(it.backend ?? "")}`}>stale</Link>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
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
            <table className="grid" data-testid="team-quotas">
              <thead>
                <tr>
                  <th>Backend</th>
                  <th className="num">Usage</th>
                  <th className="num">Soft</th>
                  <th className="num">Hard</th>
                  <th className="num">Used</th>
                  <th>Level</th>
                </tr>
              </thead>
              <tbody>
                {mine.map((q) => (
                  <tr key={q.id}>
                    <td>{q.backend ? <BackendLink backend={q.backend} /> : "all"}</td>
                    <td className="num">
                      <Size bytes={q.usage_bytes} />
                    </td>
                    <td className="num">
                      <Size bytes={q.soft_limit} />
                    </td>
                    <td className="num">
                      <Size bytes={q.hard_limit} />
                    </td>
                    <td className="num">{formatShare(q.usage_bytes, q.hard_limit)}</td>
                    <td>
                      <span className={`badge level-${q.level ?? "ok"}`}>{q.level ?? "not evaluated yet"}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
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
              <table className="grid" data-testid="team-members">
                <thead>
                  <tr>
                    <th>User</th>
                    <th className="num">Owns in {team}</th>
                    <th className="num">Files</th>
                    <th className="num">Read (30 days)</th>
                    <th>Last access (UTC)</th>
                  </tr>
                </thead>
                <tbody>
                  {m.items.map((it) => (
                    <tr key={it.user} data-user={it.user}>
                      <td>
                        <UserLink user={it.user} />
                      </td>
                      <td className="num">
                        <Size bytes={it.total_bytes} />
                      </td>
                      <td className="num">{formatCount(it.file_count)}</td>
                      <td className="num">
                        <Size bytes={it.bytes_read} />
                      </td>
                      <td>{formatTime(it.last_access)}</td>
                    </tr>
                  ))}
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
                </tbody>
              </table>
            </>
          );
        }}
      </Loading>
    </>
  );
}
