import {
  type ColumnDef,
  type OnChangeFn,
  type RowSelectionState,
  type SortingState,
  flexRender,
  getCoreRowModel,
  useReactTable,
} from "@tanstack/react-table";
import type { StaleFile } from "../api";
import { SortHeader } from "./DataTable";

/** A file row: a stale-list file, or a user's largest file (no mark, coverage or owner user known there). */
export type FileRow = Omit<StaleFile, "marked" | "coverage_ok" | "owner_user"> &
  Partial<Pick<StaleFile, "marked" | "coverage_ok" | "owner_user">>;
import { BackendLink, TeamLink, UserLink } from "./Links";
import { Size, formatTime } from "./SizeFormat";

/** Columns the API can sort by (the table sorts on the server: it only ever holds one page). Last access is the
 * last read (never read sorts oldest); Modified the modification time. */
export type SortKey = "size" | "last_access" | "last_modified" | "path";

export const fileKey = (f: { backend: string; path: string }) => `${f.backend}:${f.path}`;

const columns: ColumnDef<FileRow>[] = [
  {
    id: "select",
    header: ({ table }) => (
      <input
        type="checkbox"
        aria-label="select all on this page"
        checked={table.getIsAllRowsSelected()}
        ref={(el) => {
          if (el) el.indeterminate = table.getIsSomeRowsSelected();
        }}
        onChange={table.getToggleAllRowsSelectedHandler()}
      />
    ),
    cell: ({ row }) => (
      <input
        type="checkbox"
        aria-label={`select ${row.original.path}`}
        checked={row.getIsSelected()}
        onChange={row.getToggleSelectedHandler()}
      />
    ),
    enableSorting: false,
  },
  {
    id: "backend",
    header: "Backend",
    accessorKey: "backend",
    cell: ({ row }) => <BackendLink backend={row.original.backend} />,
    enableSorting: false,
  },
  {
    id: "path",
    header: "Path",
    accessorKey: "path",
    cell: ({ row }) => (
      <span className="path">
        {row.original.path}
        {row.original.marked && <span className="badge">marked</span>}
        {row.original.coverage_ok === false && (
          <span className="badge warn" title="older than the read evidence (a hole, or not observed long enough): reads before it are unknown">
            unverified
          </span>
        )}
      </span>
    ),
  },
  { id: "size", header: "Size", accessorKey: "size_bytes", cell: ({ getValue }) => <Size bytes={getValue<number>()} /> },
  {
    id: "last_access",
    header: "Last access",
    accessorKey: "last_access",
    cell: ({ getValue }) => formatTime(getValue<string | null>()),
  },
  {
    id: "last_modified",
    header: "Modified",
    accessorKey: "last_modified",
    cell: ({ getValue }) => formatTime(getValue<string | null>()),
  },
  {
    id: "owner",
    header: "Owner",
    accessorFn: (f) => (f.owner_user ? `${f.owner_team} / ${f.owner_user}` : f.owner_team),
    cell: ({ row }) => (
      <>
        <TeamLink team={row.original.owner_team} />
        {row.original.owner_user && (
          <>
            {" / "}
            <UserLink user={row.original.owner_user} />
          </>
        )}
      </>
    ),
    enableSorting: false,
  },
];

export interface FileTableProps {
  rows: FileRow[];
  sort?: { key: SortKey; desc: boolean };
  onSort?: (sort: { key: SortKey; desc: boolean }) => void;
  selection?: RowSelectionState;
  onSelectionChange?: OnChangeFn<RowSelectionState>;
  /** Rows shown are about to be replaced (a new sort or filter is loading). */
  busy?: boolean;
}

/** Files with server-side sorting (click a header) and optional bulk selection (checkbox column). */
export function FileTable({ rows, sort, onSort, selection, onSelectionChange, busy = false }: FileTableProps) {
  const selectable = selection !== undefined && onSelectionChange !== undefined;
  const sorting: SortingState = sort ? [{ id: sort.key, desc: sort.desc }] : [];
  const table = useReactTable({
    data: rows,
    columns: selectable ? columns : columns.filter((c) => c.id !== "select"),
    getRowId: fileKey,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    enableSorting: onSort !== undefined,
    enableSortingRemoval: false,
    state: { sorting, rowSelection: selection ?? {} },
    onSortingChange: (updater) => {
      const next = typeof updater === "function" ? updater(sorting) : updater;
      if (next[0] && onSort) onSort({ key: next[0].id as SortKey, desc: next[0].desc });
    },
    enableRowSelection: selectable,
    onRowSelectionChange: onSelectionChange,
  });

  return (
    <table className={busy ? "grid busy" : "grid"} data-testid="file-table" aria-busy={busy}>
      <thead>
        {table.getHeaderGroups().map((hg) => (
          <tr key={hg.id}>
            {hg.headers.map((h) => {
              const header = flexRender(h.column.columnDef.header, h.getContext());
              return h.column.getCanSort() ? (
                <SortHeader key={h.id} col={h.column.id} sorted={h.column.getIsSorted()} onSort={() => h.column.toggleSorting()}>
                  {header}
                </SortHeader>
              ) : (
                <th key={h.id} data-col={h.column.id}>
                  {header}
                </th>
              );
            })}
          </tr>
        ))}
      </thead>
      <tbody>
        {table.getRowModel().rows.map((row) => (
          <tr key={row.id} data-path={row.original.path} className={row.getIsSelected() ? "selected" : undefined}>
            {row.getVisibleCells().map((cell) => (
              <td key={cell.id} className={cell.column.id === "size" ? "num" : undefined}>
                {flexRender(cell.column.columnDef.cell, cell.getContext())}
              </td>
            ))}
          </tr>
        ))}
        {rows.length === 0 && (
          <tr>
            <td colSpan={columns.length} className="muted">
              No files match.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
