import { useEffect } from "react";
import type { Agent, Backend, Job } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { ErrorBox } from "../components/ErrorBox";
import { BackendLink } from "../components/Links";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { Loading } from "../components/States";
import { status } from "../opening";
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

export const AGENT_COLUMNS: Column<Agent>[] = [
  { header: "Node", cell: (ag) => ag.node_host },
  {
    header: "State",
    cell: (ag) => <span className={`badge ${ag.alive ? "level-ok" : "level-hard"}`}>{ag.alive ? "alive" : "silent"}</span>,
  },
  { header: "Heartbeat (UTC)", cell: (ag) => `${formatTime(ag.last_heartbeat)} (${Math.round(ag.age_seconds)} s ago)` },
  { header: "Mounts", className: "path", cell: (ag) => (ag.status?.mounts ?? []).map((m) => m.mountpoint).join(", ") || "–" },
  { header: "Cache", num: true, cell: (ag) => <Size bytes={ag.status?.cache?.bytes} /> },
  {
    header: "Hit rate",
    num: true,
    cell: (ag) => {
      const rate = ag.status?.cache?.hit_rate;
      return rate == null ? "–" : `${(100 * rate).toFixed(1)}%`;
    },
  },
  { header: "Queue", num: true, cell: (ag) => formatCount(ag.status?.telemetry?.queue_depth) },
  { header: "Dropped", num: true, cell: (ag) => formatCount(ag.status?.telemetry?.dropped) },
  { header: "Spool", num: true, cell: (ag) => <Size bytes={ag.status?.telemetry?.spool_bytes} /> },
  {
    header: "Backends reachable",
    cell: (ag) => {
      const reach = Object.entries(ag.status?.backends ?? {});
      return reach.length === 0
        ? "–"
        : reach.map(([name, b]) => (
            <span key={name} className={`badge ${b.reachable ? "level-ok" : "level-hard"}`} title={b.error ?? ""}>
              {name}
              {b.latency_ms != null ? ` ${Math.round(b.latency_ms)} ms` : ""}
              {b.reachable ? "" : " down"}
            </span>
          ));
    },
  },
];

export const BACKEND_COLUMNS: Column<Backend>[] = [
  { header: "Backend", cell: (b) => <BackendLink backend={b.name} /> },
  {
    header: "Last crawl",
    cell: (b) => (b.last_crawl ? <span className={`badge crawl-${b.last_crawl.status}`}>{b.last_crawl.status}</span> : "never crawled"),
  },
  { header: "Finished (UTC)", cell: (b) => formatTime(b.last_crawl?.finished_at) },
  { header: "Files", num: true, cell: (b) => formatCount(b.file_count) },
  { header: "Size", num: true, cell: (b) => <Size bytes={b.total_bytes} /> },
  { header: "Telemetry since (UTC)", cell: (b) => (b.coverage_since ? formatTime(b.coverage_since) : "no telemetry yet") },
];

const jobArgs = (j: Job) => j.args as Record<string, string | boolean | undefined>;

export const JOB_COLUMNS: Column<Job>[] = [
  { header: "Job", className: "path", cell: (j) => <span title={j.job_id}>{j.job_id.slice(0, 12)}</span> },
  { header: "Kind", cell: (j) => j.kind },
  { header: "State", cell: (j) => <span className={`badge job-${j.state}`}>{j.state}</span> },
  { header: "Dry run", cell: (j) => (jobArgs(j).dry_run ? <span className="badge warn">dry run</span> : "no") },
  {
    header: "Progress",
    cell: (j) => {
      const p = jobProgress(j);
      return (
        <>
          {p.fraction !== null && (
            <span className="bar progress" role="progressbar" aria-valuenow={Math.round(100 * p.fraction)}>
              <span style={{ width: `${100 * p.fraction}%` }} />
            </span>
          )}{" "}
          {p.text}
        </>
      );
    },
  },
  {
    header: "What",
    className: "path",
    cell: (j) => {
      const a = jobArgs(j);
      return (
        <>
          {a.backend ? `${a.backend}:${a.path ?? a.prefix ?? ""}` : ""}
          {a.dest_backend ? ` → ${a.dest_backend}:${a.dest_path ?? a.path ?? ""}` : ""}
          {j.kind === "trash" && `marked files → ${a.trash}`}
          {j.kind === "restore" && `${a.trash} → their paths`}
          {j.kind === "purge" && "expired trash"}
        </>
      );
    },
  },
  { header: "By", cell: (j) => j.created_by ?? "–" },
  { header: "Updated (UTC)", cell: (j) => formatTime(j.updated_at) },
  { header: "Error", cell: (j) => j.error ?? "" },
];

/** Agents, backends, jobs (live) and dead letters when any: is the platform healthy right now? */
export function Status() {
  const opens = status();
  const agents = useApi(opens.agents, []);
  const backends = useApi(opens.backends, []);
  const jobs = useApi(opens.jobs, []);
  // Dead letters: shown only when there are any.
  const dead = useApi(opens.deadLetters, []);
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
              <DataTable
                rows={a.items}
                columns={AGENT_COLUMNS}
                rowKey={(ag) => ag.node_host}
                rowProps={(ag) => ({ "data-node": ag.node_host })}
                testId="agent-table"
              />
            </div>
          )
        }
      </Loading>
      <h2>Backends</h2>
      <Loading state={backends} what="backends">
        {(bs) => (
          <div className="scroll">
            <DataTable rows={bs} columns={BACKEND_COLUMNS} rowKey={(b) => b.name} testId="status-backends" />
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
              <DataTable
                rows={js.items}
                columns={JOB_COLUMNS}
                rowKey={(j) => j.job_id}
                rowProps={(j) => ({ "data-job": j.job_id, "data-state": j.state })}
                testId="job-table"
              />
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
