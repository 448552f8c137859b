import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { type Column, DataTable, SortHeader } from "../src/components/DataTable";

interface Row {
  name: string;
  bytes: number;
  path: string;
}

const rows: Row[] = [
  { name: "nlp", bytes: 5, path: "a/b" },
  { name: "vision", bytes: 7, path: "c" },
];

const columns: Column<Row>[] = [
  { header: "Team", cell: (r) => <b>{r.name}</b> },
  { header: "Size", num: true, cell: (r) => r.bytes },
  { header: "Path", className: "path", cell: (r) => r.path },
  { header: null, cell: () => "stale" },
];

describe("DataTable", () => {
  it("renders the markup the pages wrote by hand", () => {
    const html = renderToStaticMarkup(
      <DataTable rows={rows} columns={columns} rowKey={(r) => r.name} rowProps={(r) => ({ "data-team": r.name })} testId="t">
        <tr>
          <td colSpan={4}>more</td>
        </tr>
      </DataTable>,
    );
    const byHand = renderToStaticMarkup(
      <table className="grid" data-testid="t">
        <thead>
          <tr>
            <th>Team</th>
            <th className="num">Size</th>
            <th>Path</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name} data-team={r.name}>
              <td>
                <b>{r.name}</b>
              </td>
              <td className="num">{r.bytes}</td>
              <td className="path">{r.path}</td>
              <td>stale</td>
            </tr>
          ))}
          <tr>
            <td colSpan={4}>more</td>
          </tr>
        </tbody>
      </table>,
    );
    expect(html).toBe(byHand);
  });

  it("marks a table busy while a newer page loads, and only then", () => {
    const busy = renderToStaticMarkup(<DataTable rows={[]} columns={columns} rowKey={(r) => r.name} busy />);
    expect(busy).toContain('class="grid busy"');
    expect(busy).toContain('aria-busy="true"');
    const idle = renderToStaticMarkup(<DataTable rows={[]} columns={columns} rowKey={(r) => r.name} />);
    expect(idle).toContain('class="grid"');
    expect(idle).not.toContain("aria-busy");
  });
});

describe("DataTable sort headers", () => {
  const sortable: Column<Row>[] = [
    { header: "Team", sortKey: "name", cell: (r) => r.name },
    { header: "Size", sortKey: "size", num: true, cell: (r) => r.bytes },
    { header: "Path", cell: (r) => r.path },
  ];

  it("gives sortable columns a header reachable by Tab that says how the rows are sorted", () => {
    const html = renderToStaticMarkup(
      <DataTable rows={rows} columns={sortable} rowKey={(r) => r.name} sort={{ key: "size", desc: true }} onSort={() => undefined} />,
    );
    expect(html).toContain('<th data-col="name" class="sortable" tabindex="0" aria-sort="none">Team</th>');
    expect(html).toContain('<th data-col="size" class="sortable num" tabindex="0" aria-sort="descending">Size ▼</th>');
    expect(html).toContain("<th>Path</th>"); // no sort key: a plain header
  });

  it("shows plain headers when the table cannot sort (no onSort)", () => {
    const html = renderToStaticMarkup(<DataTable rows={rows} columns={sortable} rowKey={(r) => r.name} />);
    expect(html).not.toContain("sortable");
    expect(html).not.toContain("tabindex");
  });

  it("sorts by click, Enter and Space, and leaves other keys alone", () => {
    const asked: string[] = [];
    const th = SortHeader({ sorted: "asc", onSort: () => asked.push("sort"), col: "size", children: "Size" });
    let prevented = 0;
    const key = (k: string) => th.props.onKeyDown({ key: k, preventDefault: () => prevented++ });
    th.props.onClick();
    key("Enter");
    key(" ");
    key("Tab");
    key("a");
    expect(asked).toEqual(["sort", "sort", "sort"]);
    expect(prevented).toBe(2); // Space must not scroll the page
    expect(renderToStaticMarkup(th)).toContain('aria-sort="ascending"');
  });
});
