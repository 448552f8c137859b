import type { ReactNode } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { Agent, Backend, Job, Mark, Quota, TreeRow } from "../src/api";
import { DataTable } from "../src/components/DataTable";
import { markColumns } from "../src/pages/Marks";
import { quotaColumns } from "../src/pages/Quotas";
import { AGENT_COLUMNS, BACKEND_COLUMNS, JOB_COLUMNS } from "../src/pages/Status";
import { treeColumns } from "../src/pages/Tree";

// The Quotas, Tree, Status and Marks tables on DataTable: what each row shows and what tests and links find it by.

const html = (node: ReactNode) => renderToStaticMarkup(<MemoryRouter>{node}</MemoryRouter>);
const headers = (markup: string) => [...markup.matchAll(/<th[^>]*>(.*?)<\/th>/g)].map((m) => m[1].replace(/<[^>]+>/g, ""));

describe("the tree table", () => {
  const row: TreeRow = {
    path: "proj/a",
    name: "a",
    is_dir: true,
    depth: 2,
    total_bytes: 4096,
    file_count: 3,
    stale_bytes: { "90": 1024 },
    stale_files: { "90": 1 },
    bytes_by_team: { nlp: 3072, vision: 1024 },
    never_read_bytes: 0,
    last_access: "2026-11-02",
    newest_modified: null,
    oldest_modified: null,
  };
  const link = (p: string) => `/tree/s3?prefix=${p}`;
  const staleLink = (p: string) => `/stale?prefix=${p}/`;
  const table = (sort: string) =>
    html(
      <DataTable
        rows={[row]}
        columns={treeColumns("90", 8192, link, staleLink)}
        rowKey={(r) => r.path}
        rowProps={(r) => ({ "data-path": r.path })}
        testId="tree-table"
        sort={{ key: sort, desc: sort !== "name" }}
        onSort={() => undefined}
      />,
    );

  it("sorts by name, size, files and stale from the headers; the API's order is shown", () => {
    const t = table("size");
    expect(headers(t)).toEqual([
      "Name", "Size ▼", "Share", "Files", "Stale 90 d", "Owners", "Newest change (week)", "Last access (week)", "",
    ]);
    expect(t.match(/class="sortable[^"]*"/g)).toHaveLength(4);
    expect(table("name")).toContain('data-col="name" class="sortable" tabindex="0" aria-sort="ascending"');
  });

  it("links a directory into the tree and its stale files, with the stale share in the fifth cell", () => {
    const t = table("size");
    expect(t).toContain('<tr data-path="proj/a"><td class="path"><a href="/tree/s3?prefix=proj/a" data-discover="true">a/</a></td>');
    const cells = [...t.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1].replace(/<[^>]+>/g, ""));
    expect(cells[4].trim()).toBe("25.0%");
    expect(cells[5]).toBe("nlp 75.0%, vision 25.0%");
    expect(cells[6]).toBe("never");
    expect(cells[7]).toBe("2026-11-02");
    expect(t).toContain('href="/stale?prefix=proj/a/"');
  });
});

describe("the quota table", () => {
  const q: Quota = {
    id: 1,
    team: "nlp",
    backend: null,
    soft_limit: 500 * 10 ** 12,
    hard_limit: 600 * 10 ** 12,
    usage_bytes: 550 * 10 ** 12,
    level: null,
    level_changed_at: null,
    unit_family: "decimal",
  };
  const t = html(
    <DataTable
      rows={[q]}
      columns={quotaColumns({ busy: false, edit: () => undefined, remove: () => undefined })}
      rowKey={(x) => x.id}
      rowProps={(x) => ({ "data-team": x.team })}
      testId="quota-table"
    />,
  );

  it("shows sizes in the family they were typed in, all backends, and a level not evaluated yet", () => {
    expect(headers(t)).toEqual(["Team", "Backend", "Usage", "Soft", "Hard", "Used of hard (soft marked)", "Level", ""]);
    expect(t).toContain('<tr data-team="nlp">');
    expect(t).toContain(">550 TB<");
    expect(t).toContain('<span class="muted">all</span>');
    expect(t).toContain(">pending</span>");
    expect(t).toContain(">Edit</button>");
  });
});

describe("the status tables", () => {
  it("agents: state, cache, reachability per backend", () => {
    const ag: Agent = {
      node_host: "node1",
      alive: true,
      age_seconds: 3.2,
      last_heartbeat: "2026-12-02T10:00:00Z",
      status: {
        cache: { bytes: 2048, hit_rate: 0.5 },
        backends: { s3: { reachable: true, latency_ms: 12.4 }, gcs: { reachable: false, error: "timeout" } },
      },
    };
    const t = html(
      <DataTable rows={[ag]} columns={AGENT_COLUMNS} rowKey={(a) => a.node_host} rowProps={(a) => ({ "data-node": a.node_host })} />,
    );
    expect(t).toContain('<tr data-node="node1"><td>node1</td>');
    expect(t).toContain("2026-12-02 10:00 UTC (3 s ago)");
    expect(t).toContain(">50.0%<");
    expect(t).toContain('<span class="badge level-ok" title="">s3 12 ms</span>');
    expect(t).toContain('<span class="badge level-hard" title="timeout">gcs down</span>');
  });

  it("backends: never crawled, no telemetry", () => {
    const b = { name: "s3", url: "s3://b", file_count: 2, total_bytes: 10, last_crawl: null, coverage_since: null } as Backend;
    const t = html(<DataTable rows={[b]} columns={BACKEND_COLUMNS} rowKey={(x) => x.name} />);
    expect(t).toContain("never crawled");
    expect(t).toContain("no telemetry yet");
    expect(t).toContain('href="/backends/s3"');
  });

  it("jobs: kind, state, dry run and progress, found by id and state", () => {
    const j: Job = {
      job_id: "0123456789abcdef",
      kind: "move",
      state: "running",
      args: { backend: "s3", path: "a", dest_backend: "gcs", dry_run: true },
      progress: { bytes_done: 50, bytes_total: 200 },
      created_at: null,
      created_by: "admin",
      updated_at: null,
      error: null,
    };
    const t = html(
      <DataTable
        rows={[j]}
        columns={JOB_COLUMNS}
        rowKey={(x) => x.job_id}
        rowProps={(x) => ({ "data-job": x.job_id, "data-state": x.state })}
      />,
    );
    expect(t).toContain('<tr data-job="0123456789abcdef" data-state="running">');
    expect(t).toContain('<span title="0123456789abcdef">0123456789ab</span>');
    expect(t).toContain('<span class="badge warn">dry run</span>');
    expect(t).toContain('aria-valuenow="25"');
    expect(t).toContain("s3:a → gcs:a");
  });
});

describe("the marks table", () => {
  const m: Mark = {
    backend: "s3",
    path: "old/f.bin",
    exists: false,
    size_bytes: 1024,
    owner_team: "nlp",
    owner_user: "ana",
    last_access: null,
    read_since_mark: true,
    marked_by: null,
    marked_at: "2026-12-01T08:30:00Z",
    note: "cleanup",
  };
  const table = (selected: Set<string>) =>
    html(
      <DataTable rows={[m]} columns={markColumns(selected, () => undefined)} rowKey={(x) => x.path} rowProps={(x) => ({ "data-path": x.path })} />,
    );

  it("a checkbox per mark, checked when selected; gone and read-since badges; the owner's team and user", () => {
    expect(table(new Set())).not.toContain("checked");
    expect(table(new Set(["s3:old/f.bin"]))).toContain('checked=""');
    const t = table(new Set());
    expect(headers(t)).toEqual(["", "Backend", "Path", "Size", "Owner", "Last access (UTC)", "Marked by", "Marked at (UTC)", "Note"]);
    expect(t).toContain('<tr data-path="old/f.bin">');
    expect(t).toContain('<td class="path">old/f.bin<span class="badge">gone</span></td>');
    expect(t).toContain('<span class="badge warn">read since marked</span>');
    expect(t).toContain('href="/teams/nlp"');
    expect(t).toContain('href="/users/ana"');
    expect(t).toContain("2026-12-01 08:30 UTC");
  });
});
