import { useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { fileKey } from "../components/FileTable";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { useApi } from "../useApi";

const PAGE = 200;

/** Files marked for deletion, for review: who marked them, why, and whether they still exist. Unmark in bulk. */
export function Marks() {
  const [offset, setOffset] = useState(0);
  const marks = useApi(() => api.marks({ limit: PAGE, offset }), [offset]);
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
        Marks record intent for review; nothing here deletes data. Mark files from the <Link to="/stale">stale data</Link> list.
      </p>
      <ErrorBox error={marks.error} />
      <div className="toolbar">
        <span>
          {formatCount(total)} file(s), <Size bytes={marks.data?.total_bytes ?? 0} />
        </span>
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
      <ErrorBox error={result.error} />
      {result.notice && (
        <div className="notice" role="status">
          {result.notice}
        </div>
      )}
      <table className="grid" data-testid="marks-table">
        <thead>
          <tr>
            <th />
            <th>Backend</th>
            <th>Path</th>
            <th className="num">Size</th>
            <th>Owner</th>
            <th>Marked by</th>
            <th>Marked at</th>
            <th>Note</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((m) => (
            <tr key={fileKey(m)} data-path={m.path}>
              <td>
                <input type="checkbox" aria-label={`select ${m.path}`} checked={selected.has(fileKey(m))} onChange={() => toggle(fileKey(m))} />
              </td>
              <td>{m.backend}</td>
              <td className="path">
                {m.path}
                {!m.exists && <span className="badge">gone</span>}
              </td>
              <td className="num">
                <Size bytes={m.size_bytes} />
              </td>
              <td>{m.owner_team ?? "–"}</td>
              <td>{m.marked_by ?? "–"}</td>
              <td>{formatTime(m.marked_at)}</td>
              <td>{m.note}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">
                Nothing is marked.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </>
  );
}
