import { useState } from "react";
import { type Quota, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Size, formatBytes, formatShare } from "../components/SizeFormat";
import { useApi } from "../useApi";

interface Draft {
  team: string;
  backend: string; // "" = all backends
  soft: string;
  hard: string;
}

const EMPTY: Draft = { team: "", backend: "", soft: "", hard: "" };

/** Quotas per team and backend with their current level; set, edit and delete them (errors from the API shown). */
export function Quotas() {
  const quotas = useApi(() => api.quotas(), []);
  const backends = useApi(() => api.backends(), []);
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
    if (await run(() => api.putQuota({ team: d.team, backend: d.backend || null, soft: d.soft, hard: d.hard }), `Saved the quota of ${d.team} on ${where}.`))
      setDraft(EMPTY);
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
        <label>
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
      <ErrorBox error={result.error} />
      {result.notice && (
        <div className="notice" role="status">
          {result.notice}
        </div>
      )}
      <ErrorBox error={quotas.error} />
      {quotas.data && (
        <table className="grid" data-testid="quota-table">
          <thead>
            <tr>
              <th>Team</th>
              <th>Backend</th>
              <th className="num">Usage</th>
              <th className="num">Soft</th>
              <th className="num">Hard</th>
              <th>Used of hard</th>
              <th>Level</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {quotas.data.map((q) => (
              <tr key={`${q.team}:${q.backend ?? ""}`} data-team={q.team}>
                <td>{q.team}</td>
                <td>{q.backend ?? <span className="muted">all</span>}</td>
                <td className="num">
                  <Size bytes={q.usage_bytes} />
                </td>
                <td className="num">
                  <Size bytes={q.soft_limit} />
                </td>
                <td className="num">
                  <Size bytes={q.hard_limit} />
                </td>
                <td>
                  <div className="bar" title={formatShare(q.usage_bytes, q.hard_limit)}>
                    <span style={{ width: `${Math.min(100, q.hard_limit ? (100 * q.usage_bytes) / q.hard_limit : 0)}%` }} />
                  </div>
                </td>
                <td>
                  {q.level ? (
                    <span className={`badge level-${q.level}`}>{q.level}</span>
                  ) : (
                    <span className="muted" title="the stream workers have not evaluated this quota yet">pending</span>
                  )}
                </td>
                <td>
                  <button
                    type="button"
                    onClick={() =>
                      setDraft({ team: q.team, backend: q.backend ?? "", soft: String(q.soft_limit), hard: String(q.hard_limit) })
                    }
                    title={`soft ${formatBytes(q.soft_limit)}, hard ${formatBytes(q.hard_limit)}`}
                  >
                    Edit
                  </button>{" "}
                  <button type="button" disabled={busy} onClick={() => remove(q)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {quotas.data.length === 0 && (
              <tr>
                <td colSpan={8} className="muted">
                  No quotas set.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </>
  );
}
