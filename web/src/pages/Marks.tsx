import { useState } from "react";
import { Link } from "react-router-dom";
import { type Mark, api, exportUrl } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { BackendLink, TeamLink, UserLink } from "../components/Links";
import { DeletionJob } from "../components/DeletionJob";
import { ErrorBox } from "../components/ErrorBox";
import { fileKey } from "../components/FileTable";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { MARKS_PAGE as PAGE, marks as opening } from "../opening";
import { useApi } from "../useApi";


/** The marks' columns: a checkbox (`selected` by file key, `toggle` flips one), the file, its owner, the mark. */
export function markColumns(selected: Set<string>, toggle: (key: string) => void): Column<Mark>[] {
  return [
    {
      header: null,
      cell: (m) => (
        <input type="checkbox" aria-label={`select ${m.path}`} checked={selected.has(fileKey(m))} onChange={() => toggle(fileKey(m))} />
      ),
    },
    { header: "Backend", cell: (m) => <BackendLink backend={m.backend} /> },
    {
      header: "Path",
      className: "path",
      cell: (m) => (
        <>
          {m.path}
          {!m.exists && <span className="badge">gone</span>}
        </>
      ),
    },
    { header: "Size", num: true, cell: (m) => <Size bytes={m.size_bytes} /> },
    {
      header: "Owner",
      cell: (m) => (
        <>
          <TeamLink team={m.owner_team} />
          {m.owner_user && (
            <>
              {" / "}
              <UserLink user={m.owner_user} />
            </>
          )}
        </>
      ),
    },
    {
      header: "Last access (UTC)",
      cell: (m) => (
        <>
          {formatTime(m.last_access)}
          {m.read_since_mark && <span className="badge warn">read since marked</span>}
        </>
      ),
    },
    { header: "Marked by", cell: (m) => m.marked_by ?? "–" },
    { header: "Marked at (UTC)", cell: (m) => formatTime(m.marked_at) },
    { header: "Note", cell: (m) => m.note },
  ];
}

/** Files marked for deletion, for review: who marked them, why, and whether they still exist. Unmark in bulk. */
export function Marks() {
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState({ owner: "", read_since_mark: "" });
  const [draft, setDraft] = useState(filter);
  const q = { owner: filter.owner || undefined, read_since_mark: filter.read_since_mark || undefined };
  const marks = useApi(() => opening().marks({ ...q, offset }), [offset, filter]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [result, setResult] = useState<{ error?: Error; notice?: string }>({});
  const rows = marks.data?.items ?? [];
  const toggle = (key: string) => {
    const next = new Set(selected);
    if (!next.delete(key)) next.add(key);
    setSelected(next);
  };
  const unmark = async () => {
    const files = rows.filter((m) => selected.has(fileKey(m))).map((m) => ({ backend: m.backend, path: m.path }));
    setResult({});
    try {
      await api.unmark(files);
      setResult({ notice: `Removed the deletion mark from ${files.length} file(s).` });
      setSelected(new Set());
      marks.reload();
    } catch (e) {
      setResult({ error: e as Error });
    }
  };
  const total = marks.data?.total ?? 0;
  return (
    <>
      <h1>Marked for deletion</h1>
      <p className="muted">
        Marks record intent for review; marking deletes nothing. Mark files from the <Link to="/stale">stale data</Link> list,
        then delete them below: a dry run first, then a job that moves them to a restorable trash.
      </p>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setFilter({ owner: draft.owner.trim(), read_since_mark: draft.read_since_mark });
        }}
      >
        <label>
          Owner (team or user)
          <input name="owner" value={draft.owner} onChange={(e) => setDraft({ ...draft, owner: e.target.value })} />
        </label>
        <label>
          Read since marked
          <select name="read_since_mark" value={draft.read_since_mark} onChange={(e) => setDraft({ ...draft, read_since_mark: e.target.value })}>
            <option value="">either</option>
            <option value="true">read since marking</option>
            <option value="false">not read since marking</option>
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorBox error={marks.error} />
      {marks.loading && !marks.data && !marks.error && (
        <p className="muted" role="status" data-testid="loading">
          Loading marks…
        </p>
      )}
      {marks.data && (
      <div className="toolbar">
        <span data-testid="marks-total">
          {formatCount(total)} file(s), <Size bytes={marks.data?.total_bytes ?? 0} />
          {marks.data.read_since_mark > 0 && (
            <span className="badge warn" data-testid="read-since-count">
              {formatCount(marks.data.read_since_mark)} read since marking
            </span>
          )}
        </span>
        <a href={exportUrl("/marks/export", q)} download data-testid="marks-export">
          Export CSV
        </a>
        <button type="button" disabled={selected.size === 0} onClick={() => void unmark()}>
          Unmark {selected.size || ""}
        </button>
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ← Prev
        </button>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
          Next →
        </button>
      </div>
      )}
      <ErrorBox error={result.error} />
      {result.notice && (
        <div className="notice" role="status">
          {result.notice}
        </div>
      )}
      {marks.data && (
      <div className="scroll">
      <DataTable
        rows={rows}
        columns={markColumns(selected, toggle)}
        rowKey={fileKey}
        rowProps={(m) => ({ "data-path": m.path })}
        testId="marks-table"
      >
        {rows.length === 0 && (
          <tr>
            <td colSpan={9} className="muted">
              {filter.owner || filter.read_since_mark
                ? "No mark matches this filter."
                : "Nothing is marked: mark stale files from the stale data list to review them here."}
            </td>
          </tr>
        )}
      </DataTable>
      </div>
      )}
      <DeletionJob filter={{ owner: filter.owner || undefined }} onSubmitted={marks.reload} />
    </>
  );
}
