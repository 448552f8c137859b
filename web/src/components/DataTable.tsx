import type { ReactNode } from "react";

/** One column of a DataTable: its header, how a row shows in it, and whether it holds numbers (right-aligned). */
export interface Column<T> {
  header: ReactNode;
  cell: (row: T) => ReactNode;
  num?: boolean;
  /** A class of the column's cells (not of its header), e.g. "path". */
  className?: string;
  /** React key of the column (default: its index); needed when columns come and go (one per backend). */
  key?: string;
  /** The sort this column's header asks for (the table's `onSort` gets it); without it the header does not sort. */
  sortKey?: string;
  /** A tooltip of the header. */
  title?: string;
}

/** How a table is sorted now: the column's sort key, and the direction to show. */
export interface Sorted {
  key: string;
  desc: boolean;
}

/**
 * A header cell that sorts its table: by click, or by Enter or Space once reached with Tab, like a button. `sorted`:
 * the direction this column is sorted in now, or false. Shared by DataTable and FileTable, so every sortable header
 * looks and behaves the same.
 */
export function SortHeader({
  sorted,
  onSort,
  className,
  title,
  col,
  children,
}: {
  sorted: "asc" | "desc" | false;
  onSort: () => void;
  className?: string;
  title?: string;
  /** data-col, what tests find a header by. */
  col?: string;
  children: ReactNode;
}) {
  return (
    <th
      data-col={col}
      className={["sortable", className].filter(Boolean).join(" ")}
      title={title}
      onClick={onSort}
      tabIndex={0}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onSort();
        }
      }}
      aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none"}
    >
      {children}
      {sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}
    </th>
  );
}

/** The dashboard's plain tables (sorted and paged by the API; the file lists use FileTable): one `grid` table,
 * a header row, one row per item. `rowProps` gives a row its data attributes (what tests and links find it by);
 * `children` are extra rows after the items (a note, members who own nothing). `busy`: a newer page is loading.
 * Columns with a `sortKey` get sort headers when the table has `onSort` (the owner sorts: on the server, or the rows
 * it passes); `sort` says which column the rows are sorted by. */
export function DataTable<T>({
  rows,
  columns,
  rowKey,
  rowProps,
  testId,
  busy,
  sort,
  onSort,
  children,
}: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string | number | undefined;
  rowProps?: (row: T) => Record<`data-${string}`, string | undefined>;
  testId?: string;
  busy?: boolean;
  sort?: Sorted;
  onSort?: (key: string) => void;
  children?: ReactNode;
}) {
  const num = (c: Column<T>) => (c.num ? "num" : undefined);
  const cellClass = (c: Column<T>) => [num(c), c.className].filter(Boolean).join(" ") || undefined;
  return (
    <table className={busy ? "grid busy" : "grid"} data-testid={testId} aria-busy={busy}>
      <thead>
        <tr>
          {columns.map((c, i) => {
            const sortKey = c.sortKey;
            return sortKey !== undefined && onSort ? (
              <SortHeader
                key={c.key ?? i}
                col={sortKey}
                className={num(c)}
                title={c.title}
                sorted={sort?.key === sortKey ? (sort.desc ? "desc" : "asc") : false}
                onSort={() => onSort(sortKey)}
              >
                {c.header}
              </SortHeader>
            ) : (
              <th key={c.key ?? i} className={num(c)} title={c.title}>
                {c.header}
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)} {...rowProps?.(row)}>
            {columns.map((c, i) => (
              <td key={c.key ?? i} className={cellClass(c)}>
                {c.cell(row)}
              </td>
            ))}
          </tr>
        ))}
        {children}
      </tbody>
    </table>
  );
}
