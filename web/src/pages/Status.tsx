import { useEffect } from "react";
import { type Job, lists, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { BackendLink } from "../components/Links";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { Loading } from "../components/States";
import { useApi } from "../useApi";

const REFRESH_MS = 5000; // live progress: the jobs and agents are read again this often

/** A job's progress as "done of total" (bytes or files), or what the runner reported. */
export function jobProgress(job: Job): { fraction: number | null; text: string } {
  const p = job.progress as Record<string, number | string | undefined>;
  const pairs: [string, string, boolean][] = [
    ["bytes_done", "bytes_total", true],
    ["files_done", "files_total", false],
  ];
  for (const [done, total, bytes] of pairs) {
    const d = Number(p[done]);
    const t = Number(p[total]);
    if (Number.isFinite(d) && Number.isFinite(t) && t > 0) {
      const f = Math.min(1, d / t);
      return { fraction: f, text: bytes ? `${formatShare(d, t)} of bytes` : `${formatCount(d)} / ${formatCount(t)} files` };
    }
  }
  if (p.files_total !== undefined) return { fraction: null, text: `${formatCount(Number(p.files_total))} files` };
  return { fraction: null, text: job.state === "done" ? "done" : "–" };
}

/** Agents, backends, jobs (live) and dead letters when any: is the platform healthy right now? */
export function Status() {
  const agents = useApi(() => lists.agents(), []);
  const backends = useApi(() => api.backends(), []);
  const jobs = useApi(() => lists.jobs({ limit: 50 }), []);
  // Dead letters: shown only when there are any.
  const dead = useApi(() => lists.deadLetters(), []);
  useEffect(() => {
    const t = setInterval(() => {
      agents.reload();
      jobs.reload();
    }, REFRESH_MS);
    return () => clearInterval(t);
  }, [agents.reload, jobs.reload]);
  return (
    <>
      <h1>Status</h1>
      <h2>Agents</h2>
      <Loading state={agents} what="agents">
        {(a) =>
          a.items.length === 0 ? (
            <p className="muted" data-testid="no-agents">
              No agent has reported yet: start one with <code>warpdrive agent run</code> on a node (it mounts the backends and
              sends a heartbeat).
            </p>
          ) : (
            <div className="scroll">
              <table className="grid" data-testid="agent-table">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>State</th>
                    <th>Heartbeat (UTC)</th>
                    <th>Mounts</th>
                    <th className="num">Cache</th>
                    <th className="num">Hit rate</th>
                    <th className="num">Queue</th>
                    <th className="num">Dropped</th>
                    <th className="num">Spool</th>
                    <th>Backends reachable</th>
                  </tr>
                </thead>
                <tbody>
                  {a.items.map((ag) => {
                    const st = ag.status ?? {};
                    const reach = Object.entries(st.backends ?? {});
                    return (
                      <tr key={ag.node_host} data-node={ag.node_host}>
                        <td>{ag.node_host}</td>
                        <td>
                          <span className={`badge ${ag.alive ? "level-ok" : "level-hard"}`}>{ag.alive ? "alive" : "silent"}</span>
                        </td>
                        <td>
                          {formatTime(ag.last_heartbeat)} ({Math.round(ag.age_seconds)} s ago)
                        </td>
                        <td className="path">{(st.mounts ?? []).map((m) => m.mountpoint).join(", ") || "–"}</td>
                        <td className="num">
                          <Size bytes={st.cache?.bytes} />
                        </td>
                        <td className="num">{st.cache?.hit_rate == null ? "–" : `${(100 * st.cache.hit_rate).toFixed(1)}%`}</td>
                        <td className="num">{formatCount(st.telemetry?.queue_depth)}</td>
                        <td className="num">{formatCount(st.telemetry?.dropped)}</td>
                        <td className="num">
                          <Size bytes={st.telemetry?.spool_bytes} />
                        </td>
                        <td>
                          {reach.length === 0
                            ? "–"
                            : reach.map(([name, b]) => (
                                <span key={name} className={`badge ${b.reachable ? "level-ok" : "level-hard"}`} title={b.error ?? ""}>
                                  {name}
                                  {b.latency_ms != null ? ` ${Math.round(b.latency_ms)} ms` : ""}
                                  {b.reachable ? "" : " down"}
                                </span>
                              ))}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Loading>
      <h2>Backends</h2>
      <Loading state={backends} what="backends">
        {(bs) => (
          <div className="scroll">
            <table className="grid" data-testid="status-backends">
              <thead>
                <tr>
                  <th>Backend</th>
                  <th>Last crawl</th>
                  <th>Finished (UTC)</th>
                  <th className="num">Files</th>
                  <th className="num">Size</th>
                  <th>Telemetry since (UTC)</th>
                </tr>
              </thead>
              <tbody>
                {bs.map((b) => (
                  <tr key={b.name}>
                    <td>
                      <BackendLink backend={b.name} />
                    </td>
                    <td>{b.last_crawl ? <span className={`badge crawl-${b.last_crawl.status}`}>{b.last_crawl.status}</span> : "never crawled"}</td>
                    <td>{formatTime(b.last_crawl?.finished_at)}</td>
                    <td className="num">{formatCount(b.file_count)}</td>
                    <td className="num">
                      <Size bytes={b.total_bytes} />
                    </td>
                    <td>{b.coverage_since ? formatTime(b.coverage_since) : "no telemetry yet"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loading>
      <h2>Jobs</h2>
      <Loading state={jobs} what="jobs">
        {(js) =>
          js.items.length === 0 ? (
            <p className="muted">No jobs yet: moves, warms, crawls and deletion jobs appear here with their progress.</p>
          ) : (
            <div className="scroll">
              <table className="grid" data-testid="job-table">
                <thead>
                  <tr>
                    <th>Job</th>
                    <th>Kind</th>
                    <th>State</th>
                    <th>Dry run</th>
                    <th>Progress</th>
                    <th>What</th>
                    <th>By</th>
                    <th>Updated (UTC)</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {js.items.map((j) => {
                    const p = jobProgress(j);
                    const a = j.args as Record<string, string | boolean | undefined>;
                    return (
                      <tr key={j.job_id} data-job={j.job_id} data-state={j.state}>
                        <td className="path" title={j.job_id}>
                          {j.job_id.slice(0, 12)}
                        </td>
                        <td>{j.kind}</td>
                        <td>
                          <span className={`badge job-${j.state}`}>{j.state}</span>
                        </td>
                        <td>{a.dry_run ? <span className="badge warn">dry run</span> : "no"}</td>
                        <td>
                          {p.fraction !== null && (
                            <span className="bar progress" role="progressbar" aria-valuenow={Math.round(100 * p.fraction)}>
                              <span style={{ width: `${100 * p.fraction}%` }} />
                            </span>
                          )}{" "}
                          {p.text}
                        </td>
                        <td className="path">
                          {a.backend ? `${a.backend}:${a.path ?? a.prefix ?? ""}` : ""}
                          {a.dest_backend ? ` → ${a.dest_backend}:${a.dest_path ?? a.path ?? ""}` : ""}
                          {j.kind === "trash" && `marked files → ${a.trash}`}
                          {j.kind === "restore" && `${a.trash} → their paths`}
                          {j.kind === "purge" && "expired trash"}
                        </td>
                        <td>{j.created_by ?? "–"}</td>
                        <td>{formatTime(j.updated_at)}</td>
                        <td>{j.error ?? ""}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              {js.total > js.items.length && <p className="muted">{js.items.length} newest of {formatCount(js.total)} jobs.</p>}
            </div>
          )
        }
      </Loading>
      {dead.error && <ErrorBox error={dead.error} />}
      {dead.data && dead.data.total > 0 && (
        <>
          <h2>Dead letters</h2>
          <p className="alert warn" data-testid="dead-letters">
            {formatCount(dead.data.total)} record(s) could not be applied and were set aside (
            {Object.entries(dead.data.by_topic)
              .map(([t, n]) => `${t}: ${formatCount(n)}`)
              .join(", ")}
            ): inspect, replay or drop them with the dead-letter API (<code>/api/v1/deadletters</code>).
          </p>
        </>
      )}
    </>
  );
}
