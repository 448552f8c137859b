import { useEffect, useState } from "react";
import { type Trash, type TrashFilter, type TrashPlan, trash } from "../api";
import { BackendLink } from "./Links";
import { ErrorBox } from "./ErrorBox";
import { Size, formatCount, formatTime } from "./SizeFormat";
import { marks } from "../opening";
import { useApi } from "../useApi";

const SHOWN = 500; // files of a dry run shown on screen (the totals cover all; the CLI lists every one)
const REFRESH_MS = 3000; // the trash list is read again this often while a job runs

/** The next step after marking: a dry run listing exactly what a deletion job would move to the trash, a
 * confirmation naming the count and bytes, then the job; below, every deletion job with its restore button. */
export function DeletionJob({ filter, onSubmitted }: { filter: TrashFilter; onSubmitted: () => void }) {
  const [plan, setPlan] = useState<TrashPlan | undefined>();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ error?: Error; notice?: string }>({});
  const list = useApi(marks().trash, []);
  const running = (list.data?.items ?? []).some((t) => t.status === "running");
  useEffect(() => {
    if (!running) return;
    const t = window.setInterval(list.reload, REFRESH_MS);
    return () => window.clearInterval(t);
  }, [running, list.reload]);
  // A new filter needs a new dry run: the old one named other files.
  const key = JSON.stringify(filter);
  useEffect(() => {
    setPlan(undefined);
    setConfirming(false);
  }, [key]);

  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    setResult({});
    try {
      setResult({ notice: await what() });
    } catch (e) {
      setResult({ error: e as Error });
    } finally {
      setBusy(false);
    }
  };
  const dryRun = () =>
    act(async () => {
      const p = await trash.plan(filter);
      setPlan(p);
      setConfirming(false);
      return `Dry run: nothing was moved.`;
    });
  const submit = (p: TrashPlan) =>
    act(async () => {
      const job = await trash.submit(filter, p.total, p.total_bytes);
      setPlan(undefined);
      setConfirming(false);
      onSubmitted();
      list.reload();
      return `Deletion job ${job.job_id.slice(0, 12)} queued: ${formatCount(p.total)} file(s) to the trash.`;
    });
  const restore = (t: Trash) =>
    act(async () => {
      const job = await trash.restore(t.job_id);
      list.reload();
      return `Restore job ${job.job_id.slice(0, 12)} queued: the files of ${t.job_id.slice(0, 12)} go back to their paths.`;
    });

  return (
    <section data-testid="deletion">
      <h2>Delete marked files</h2>
      <p className="muted">
        A deletion job moves the marked files of this filter to a trash directory on their own backend, restorable until its
        retention period ends. Marks whose file was modified or read after marking are held back, never deleted. Admins only.
      </p>
      <div className="toolbar">
        <button type="button" disabled={busy} onClick={() => void dryRun()} data-testid="dry-run">
          Dry run
        </button>
      </div>
      <ErrorBox error={result.error} />
      {result.notice && (
        <div className="notice" role="status" data-testid="deletion-notice">
          {result.notice}
        </div>
      )}
      {plan && (
        <div data-testid="plan">
          <p data-testid="plan-total">
            Would move {formatCount(plan.total)} file(s), <Size bytes={plan.total_bytes} /> ({plan.total_bytes.toLocaleString("en")}{" "}
            bytes) to <code>{plan.trash_prefix}/</code>, restorable for {plan.retention_days} day(s).
            {plan.held_total > 0 && <span className="badge warn">{formatCount(plan.held_total)} held back</span>}
          </p>
          {plan.total > 0 && !confirming && (
            <button type="button" onClick={() => setConfirming(true)} data-testid="delete">
              Move {formatCount(plan.total)} file(s) to the trash…
            </button>
          )}
          {confirming && (
            <div className="notice warn" role="alertdialog" aria-label="confirm deletion" data-testid="confirm">
              Move {formatCount(plan.total)} file(s), <Size bytes={plan.total_bytes} />, to the trash?{" "}
              <button type="button" disabled={busy} onClick={() => void submit(plan)} data-testid="confirm-delete">
                Yes, move {formatCount(plan.total)} file(s)
              </button>{" "}
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          )}
          <PlanTable files={plan.files} testid="plan-files" />
          {plan.held.length > 0 && (
            <>
              <h3>Held back (reviewed, not deleted)</h3>
              <PlanTable files={plan.held} testid="plan-held" />
            </>
          )}
        </div>
      )}
      <h2>Deletion jobs</h2>
      <ErrorBox error={list.error} />
      {list.data && (
        <div className="scroll">
          <table className="grid" data-testid="trash-table">
            <thead>
              <tr>
                <th>Job</th>
                <th>Status</th>
                <th className="num">Files</th>
                <th className="num">Size</th>
                <th className="num">Skipped</th>
                <th>By</th>
                <th>Created (UTC)</th>
                <th>Expires (UTC)</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((t) => {
                const p = t.progress as Record<string, number | undefined>;
                return (
                  <tr key={t.job_id} data-job={t.job_id} data-status={t.status}>
                    <td className="path" title={t.job_id}>
                      {t.job_id.slice(0, 12)}
                    </td>
                    <td>
                      <span className="badge">{t.status}</span>
                    </td>
                    <td className="num">{formatCount(p.files_done ?? 0)}</td>
                    <td className="num">
                      <Size bytes={p.bytes_done ?? 0} />
                    </td>
                    <td className="num">{formatCount(p.files_skipped ?? 0)}</td>
                    <td>{t.created_by ?? "–"}</td>
                    <td>{formatTime(t.created_at)}</td>
                    <td>{formatTime(t.expires_at)}</td>
                    <td>
                      {t.status === "restorable" && (
                        <button type="button" disabled={busy} onClick={() => void restore(t)} data-testid="restore">
                          Restore
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
              {list.data.items.length === 0 && (
                <tr>
                  <td colSpan={9} className="muted">
                    No deletion job yet: run a dry run above, then confirm it.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function PlanTable({ files, testid }: { files: TrashPlan["files"]; testid: string }) {
  return (
    <div className="scroll">
      <table className="grid" data-testid={testid}>
        <thead>
          <tr>
            <th>Backend</th>
            <th>Path</th>
            <th className="num">Size</th>
            <th>Marked by</th>
            <th>Marked at (UTC)</th>
            <th>Why held</th>
          </tr>
        </thead>
        <tbody>
          {files.slice(0, SHOWN).map((f) => (
            <tr key={`${f.backend}:${f.path}`} data-path={f.path}>
              <td>
                <BackendLink backend={f.backend} />
              </td>
              <td className="path">{f.path}</td>
              <td className="num">
                <Size bytes={f.size_bytes ?? 0} />
              </td>
              <td>{f.marked_by ?? "–"}</td>
              <td>{formatTime(f.marked_at)}</td>
              <td>{f.reason ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {files.length > SHOWN && (
        <p className="muted">
          {SHOWN} of {formatCount(files.length)} listed here; `warpdrive-ctl marks delete --dry-run` lists every one.
        </p>
      )}
    </div>
  );
}
