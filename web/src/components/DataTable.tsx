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
}

/** The dashboard's plain tables (sorted and paged by the API; the file lists use FileTable): one `grid` table,
 * a header row, one row per item. `rowProps` gives a row its data attributes (what tests and links find it by);
 * `children` are extra rows after the items (a note, members who own nothing). `busy`: a newer page is loading. */
export function DataTable<T>({
  rows,
  columns,
  rowKey,
  rowProps,
  testId,
  busy,
  children,
}: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string | number | undefined;
  rowProps?: (row: T) => Record<`data-${string}`, string | undefined>;
  testId?: string;
  busy?: boolean;
  children?: ReactNode;
}) {
  const num = (c: Column<T>) => (c.num ? "num" : undefined);
  const cellClass = (c: Column<T>) => [num(c), c.className].filter(Boolean).join(" ") || undefined;
  return (
    <table className={busy ? "grid busy" : "grid"} data-testid={testId} aria-busy={busy}>
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th key={c.key ?? i} className={num(c)}>
              {c.header}
            </th>
          ))}
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
