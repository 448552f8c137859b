import { useState } from "react";
import type { RowSelectionState } from "@tanstack/react-table";
import { useSearchParams } from "react-router-dom";
import { type FileRef, api, exportUrl, lists } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { FileTable, fileKey } from "../components/FileTable";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { STALE_PAGE as PAGE, stale as opening, staleQuery } from "../opening";
import { useApi } from "../useApi";

const FILTERS = ["days", "min_size", "backend", "owner", "prefix"] as const;

/**
 * Files neither read nor modified in N days. Filters, sort and page live in the URL so a view can be
 * linked (the directory page links here with a prefix). Marking records intent only: nothing is deleted.
 */
export function StaleData() {
  const [params, setParams] = useSearchParams();
  const q = staleQuery(params);
  const key = params.toString();
  const opens = opening(params);
  const stale = useApi(opens.stale, [key]);
  const backends = useApi(opens.backends, []);
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [note, setNote] = useState("");
  const [result, setResult] = useState<{ error?: Error; notice?: string }>({});
  const [busy, setBusy] = useState(false);
  // "Select all N matching": the whole filter, marked server-side with the count the admin saw.
  const [allMatching, setAllMatching] = useState(false);
  const filter = { days: q.days, min_size: q.min_size, backend: q.backend, owner: q.owner, prefix: q.prefix };

  const update = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === "") next.delete(k);
      else next.set(k, v);
    }
    if (!("offset" in changes)) next.delete("offset"); // a new filter or sort starts at the first page
    setParams(next);
    setSelection({});
    setAllMatching(false);
  };

  const rows = stale.data?.items ?? [];
  const selectedRows = rows.filter((f) => selection[fileKey(f)]);
  const selected: FileRef[] = selectedRows.map((f) => ({ backend: f.backend, path: f.path }));

  const act = async (what: "mark" | "unmark") => {
    setBusy(true);
    setResult({});
    try {
      if (what === "mark" && allMatching) {
        const r = await lists.markStale(filter, total, note.trim() || undefined);
        setResult({ notice: `Marked all ${formatCount(r.marked)} matching file(s) for deletion. Nothing was deleted.` });
      } else if (what === "mark") await api.mark(selected, note.trim() || undefined);
      else await api.unmark(selected);
      if (!(what === "mark" && allMatching))
        setResult({
          notice:
            what === "mark"
              ? `Marked ${selected.length} file(s) for deletion. Nothing was deleted.`
              : `Removed the deletion mark from ${selected.length} file(s).`,
        });
      setSelection({});
      setAllMatching(false);
      stale.reload();
    } catch (e) {
      setResult({ error: e as Error });
    } finally {
      setBusy(false);
    }
  };

  const total = stale.data?.total ?? 0;
  const pageAllSelected = rows.length > 0 && selectedRows.length === rows.length;
  const csvHref = exportUrl("/stale/export", { ...filter, sort: q.sort, order: q.order });
  const offset = Number(q.offset) || 0;
  const atLeast = stale.data?.total_exact === false ? "+" : "";
  const coverage = Object.entries(stale.data?.coverage ?? {});
  return (
    <>
      <h1>Stale data</h1>
      <Filters
        key={key}
        initial={Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? (f === "days" ? "90" : "")]))}
        backends={backends.data?.map((b) => b.name) ?? []}
        onApply={update}
      />
      {rows.some((f) => f.coverage_ok === false) && (
        <p className="muted" data-testid="coverage">
          Read evidence (telemetry, imported logs without a hole, atime) does not cover every backend for {q.days} days (
          {coverage.map(([b, c], i) => (
            <span key={b}>
              {i > 0 && ", "}
              {b} since {c.since ? formatTime(c.since) : "never"}
            </span>
          ))}
          ): files marked <span className="badge warn">unverified</span> were not read while covered, but may have been
          read before.
        </p>
      )}
      <ErrorBox error={stale.error} />
      {stale.loading && !stale.data && !stale.error && (
        <p className="muted" role="status" data-testid="loading">
          Loading stale files…
        </p>
      )}
      {stale.data && (
      <div className="toolbar">
        <span data-testid="stale-total" title={atLeast ? "counting stopped: the totals are lower bounds" : "exact totals"}>
          {atLeast ? "at least " : ""}
          {formatCount(total)} file(s), <Size bytes={stale.data?.total_bytes ?? 0} />
          {/* The share: only where the rollups answered, which also know every file under the filter. */}
          {!!stale.data.scope_bytes && (
            <span data-testid="stale-share">
              {" "}
              ({formatShare(stale.data.total_bytes, stale.data.scope_bytes)} of <Size bytes={stale.data.scope_bytes} />{" "}
              under this filter)
            </span>
          )}
          {total > 0 && ` · showing ${offset + 1}–${offset + rows.length}`}
        </span>
        <span data-testid="selected-count">
          ·{" "}
          {allMatching ? (
            <>all {formatCount(total)} matching selected</>
          ) : (
            <>
              {selected.length} selected (<Size bytes={selectedRows.reduce((s, f) => s + f.size_bytes, 0)} />)
            </>
          )}
        </span>
        {pageAllSelected && !allMatching && total > rows.length && !atLeast && (
          <button type="button" data-testid="select-all-matching" onClick={() => setAllMatching(true)}>
            Select all {formatCount(total)} matching
          </button>
        )}
        {allMatching && (
          <button type="button" onClick={() => (setAllMatching(false), setSelection({}))}>
            Clear selection
          </button>
        )}
        <a href={csvHref} download data-testid="export-csv">
          Export CSV (every row)
        </a>
        <input placeholder="note (optional)" aria-label="note" value={note} onChange={(e) => setNote(e.target.value)} />
        <button type="button" disabled={busy || (selected.length === 0 && !allMatching)} onClick={() => act("mark")} data-testid="mark">
          Mark for deletion
        </button>
        <button type="button" disabled={busy || selected.length === 0 || allMatching} onClick={() => act("unmark")}>
          Unmark
        </button>
        <button type="button" disabled={offset === 0} onClick={() => update({ offset: String(Math.max(0, offset - PAGE)) })}>
          ← Prev
        </button>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => update({ offset: String(offset + PAGE) })}>
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
      {stale.data && !stale.error && (
        <FileTable
          rows={rows}
          sort={{ key: q.sort, desc: q.order === "desc" }}
          onSort={(s) => update({ sort: s.key, order: s.desc ? "desc" : "asc" })}
          selection={selection}
          onSelectionChange={(u) => {
            setAllMatching(false);
            setSelection(u);
          }}
          busy={stale.loading}
        />
      )}
    </>
  );
}

function Filters({
  initial,
  backends,
  onApply,
}: {
  initial: Record<string, string>;
  backends: string[];
  onApply: (values: Record<string, string>) => void;
}) {
  const [v, setV] = useState(initial);
  const field = (name: string) => ({
    value: v[name] ?? "",
    onChange: (e: { target: { value: string } }) => setV({ ...v, [name]: e.target.value }),
  });
  return (
    <form
      className="filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x.trim()])));
      }}
    >
      <label>
        Not used for (days)
        <input name="days" type="number" min={0} style={{ width: 80 }} {...field("days")} />
      </label>
      <label>
        Min size
        <input name="min_size" placeholder="e.g. 10GB" style={{ width: 100 }} {...field("min_size")} />
      </label>
      <label>
        Backend
        <select name="backend" {...field("backend")}>
          <option value="">all</option>
          {backends.map((b) => (
            <option key={b}>{b}</option>
          ))}
        </select>
      </label>
      <label>
        Owner (team or user)
        <input name="owner" style={{ width: 120 }} {...field("owner")} />
      </label>
      <label>
        Path prefix
        <input name="prefix" style={{ width: 220 }} {...field("prefix")} />
      </label>
      <button type="submit">Apply</button>
    </form>
  );
}
