import { useState } from "react";
import { ApiError, type Quota, api } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { ErrorBox } from "../components/ErrorBox";
import { TeamLink } from "../components/Links";
import { QUOTA_REFRESH_MS, QuotaBar } from "../components/QuotaBar";
import { Size, familyOf, formatBytes } from "../components/SizeFormat";
import { quotas as opening } from "../opening";
import { usePolling, useApi } from "../useApi";

interface Draft {
  team: string;
  backend: string; // "" = all backends
  soft: string;
  hard: string;
}

const EMPTY: Draft = { team: "", backend: "", soft: "", hard: "" };

/** What the hard limit does, where it is set (the same words as the CLI's --hard help and the API's docs). */
export const HARD_LIMIT_HELP =
  "Hard limit: once the team's usage is above it, every agent refuses its members' creates, opens for writing, writes, " +
  "truncates and renames on that backend (or on all backends) with EDQUOT (\"Disk quota exceeded\"); reads, listing " +
  "and deletes still work, so the team can free space. It takes effect on every live agent about a second after a change. " +
  "Soft limit: crossing it logs a warning and publishes a breach; nothing is blocked.";

/** The size to put in the edit form, in the quota's units and exact (500TB, 1.5TiB, 1.234TB); plain bytes only
 * for a size no unit writes exactly in a few digits. */
function exactOrBytes(bytes: number, family: Quota["unit_family"]): string {
  const base = family === "decimal" ? 1000 : 1024;
  let u = 0;
  while (u < 6 && bytes >= base ** (u + 1)) u++;
  if (u === 0) return String(bytes);
  const amount = bytes / base ** u;
  const unit = `${"KMGTPE"[u - 1]}${family === "decimal" ? "B" : "iB"}`;
  return Math.round(amount * base ** u) === bytes && String(amount).length <= 8 ? `${amount}${unit}` : String(bytes);
}

/** The quota list's columns; `edit` fills the form with a quota, `remove` asks and deletes it. */
export function quotaColumns({ busy, edit, remove }: { busy: boolean; edit: (d: Draft) => void; remove: (q: Quota) => void }): Column<Quota>[] {
  return [
    { header: "Team", cell: (q) => <TeamLink team={q.team} /> },
    { header: "Backend", cell: (q) => q.backend ?? <span className="muted">all</span> },
    { header: "Usage", num: true, cell: (q) => <Size bytes={q.usage_bytes} family={q.unit_family} /> },
    { header: "Soft", num: true, cell: (q) => <Size bytes={q.soft_limit} family={q.unit_family} /> },
    { header: "Hard", num: true, cell: (q) => <Size bytes={q.hard_limit} family={q.unit_family} /> },
    { header: "Used of hard (soft marked)", cell: (q) => <QuotaBar q={q} /> },
    {
      header: "Level",
      cell: (q) =>
        q.level ? (
          <span className={`badge level-${q.level}`}>{q.level}</span>
        ) : (
          <span className="muted" title="the stream workers have not evaluated this quota yet">
            pending
          </span>
        ),
    },
    {
      header: null,
      cell: (q) => (
        <>
          <button
            type="button"
            onClick={() =>
              edit({
                team: q.team,
                backend: q.backend ?? "",
                // Exact values stay exact: a rounded size is only used when it equals the stored bytes.
                soft: exactOrBytes(q.soft_limit, q.unit_family),
                hard: exactOrBytes(q.hard_limit, q.unit_family),
              })
            }
            title={`soft ${formatBytes(q.soft_limit, q.unit_family)}, hard ${formatBytes(q.hard_limit, q.unit_family)}`}
          >
            Edit
          </button>{" "}
          <button type="button" disabled={busy} onClick={() => remove(q)}>
            Delete
          </button>
        </>
      ),
    },
  ];
}

/** Quotas per team and backend with their current level; set, edit and delete them (errors from the API shown). */
export function Quotas() {
  const opens = opening();
  const quotas = useApi(opens.quotas, []);
  usePolling(quotas.reload, QUOTA_REFRESH_MS);
  const backends = useApi(opens.backends, []);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [result, setResult] = useState<{ error?: Error; notice?: string }>({});
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<unknown>, notice: string) => {
    setBusy(true);
    setResult({});
    try {
      await action();
      setResult({ notice });
      quotas.reload();
      return true;
    } catch (e) {
      setResult({ error: e as Error });
      return false;
    } finally {
      setBusy(false);
    }
  };

  const save = async () => {
    const d = { ...draft, team: draft.team.trim(), soft: draft.soft.trim(), hard: draft.hard.trim() };
    const where = d.backend || "all backends";
    const put = async () => {
      const body = { team: d.team, backend: d.backend || null, soft: d.soft, hard: d.hard };
      let q: Quota;
      try {
        q = await api.putQuota(body);
      } catch (e) {
        // A team nobody is in and that owns nothing: most likely a typo, so ask before setting it anyway.
        if (!(e instanceof ApiError && e.status === 409 && e.param === "force")) throw e;
        if (!window.confirm(`${e.message.replace(/; set force.*$/, "")}.\n\nSet the quota of ${d.team} anyway?`))
          throw new Error(`Not saved: team ${d.team} has no members and owns no data.`);
        q = await api.putQuota({ ...body, force: true });
      }
      const f = familyOf(q.soft_limit, q.hard_limit);
      return `Saved the quota of ${d.team} on ${where}: ${formatBytes(q.soft_limit, f)} / ${formatBytes(q.hard_limit, f)} (soft / hard).`;
    };
    setBusy(true);
    setResult({});
    try {
      setResult({ notice: await put() });
      quotas.reload();
      setDraft(EMPTY);
    } catch (e) {
      setResult({ error: e as Error });
    } finally {
      setBusy(false);
    }
  };

  const remove = (q: Quota) => {
    const where = q.backend ?? "all backends";
    if (window.confirm(`Delete the quota of ${q.team} on ${where}?`))
      void run(() => api.deleteQuota(q.team, q.backend), `Deleted the quota of ${q.team} on ${where}.`);
  };

  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <>
      <h1>Quotas</h1>
      <form
        className="inline"
        data-testid="quota-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label>
          Team
          <input name="team" value={draft.team} onChange={set("team")} required />
        </label>
        <label>
          Backend
          <select name="backend" value={draft.backend} onChange={set("backend")}>
            <option value="">all backends</option>
            {backends.data?.map((b) => (
              <option key={b.name}>{b.name}</option>
            ))}
          </select>
        </label>
        <label>
          Soft limit
          <input name="soft" placeholder="e.g. 500TB" value={draft.soft} onChange={set("soft")} required />
        </label>
        <label title={HARD_LIMIT_HELP}>
          Hard limit
          <input name="hard" placeholder="e.g. 600TB" value={draft.hard} onChange={set("hard")} required />
        </label>
        <button type="submit" disabled={busy}>
          Save quota
        </button>
        {draft !== EMPTY && (
          <button type="button" onClick={() => setDraft(EMPTY)}>
            Clear
          </button>
        )}
      </form>
      <p className="muted">Sizes: 500TB and 10GB are decimal (1000-based), 1.5TiB and 10GiB binary; a plain number is bytes.</p>
      <p className="quota-help" data-testid="hard-limit-help">
        {HARD_LIMIT_HELP}
      </p>
      <ErrorBox error={result.error} />
      {result.notice && (
        <div className="notice" role="status">
          {result.notice}
        </div>
      )}
      <ErrorBox error={quotas.error} />
      {quotas.data && (
        <DataTable
          rows={quotas.data}
          columns={quotaColumns({ busy, edit: setDraft, remove })}
          rowKey={(q) => `${q.team}:${q.backend ?? ""}`}
          rowProps={(q) => ({ "data-team": q.team })}
          testId="quota-table"
        >
          {quotas.data.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">
                No quotas set.
              </td>
            </tr>
          )}
        </DataTable>
      )}
    </>
  );
}
