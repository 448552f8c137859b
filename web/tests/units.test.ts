import { describe, expect, it } from "vitest";
import { buildUrl, errorFromResponse } from "../src/api";
import cases from "../../schemas/units.cases.json";
import { byteTicks, familyOf, formatBytes, formatShare, formatTick, type SizeFamily } from "../src/components/SizeFormat";
import { pivotByTeam } from "../src/components/StorageChart";
import { breadcrumbs } from "../src/pages/Tree";

describe("one size format with schemas/units.py", () => {
  it("formats every shared example as format_size does", () => {
    for (const [n, family, text] of cases.format as [number, SizeFamily | null, string][])
      expect(formatBytes(n, family), `${n} ${family}`).toBe(text);
  });
  it("finds the unit family as family_of does", () => {
    for (const [sizes, family] of cases.family as [number[], SizeFamily][]) expect(familyOf(...sizes), `${sizes}`).toBe(family);
  });
  it("shows a quota typed in TB in TB", () => {
    const f = familyOf(500e12, 600e12);
    expect(`${formatBytes(500e12, f)} / ${formatBytes(600e12, f)}`).toBe("500 TB / 600 TB");
  });
});

describe("formatBytes", () => {
  it("uses binary units with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1.00 KiB");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(10 * 1024 ** 3 + 1)).toBe("10.0 GiB");
    expect(formatBytes(500 * 1000 ** 4)).toBe("455 TiB");
    expect(formatBytes(2 ** 62)).toBe("4.00 EiB");
    expect(formatBytes(null)).toBe("–");
  });
  it("formats shares and empty wholes", () => {
    expect(formatShare(1, 3)).toBe("33.3%");
    expect(formatShare(0, 0)).toBe("–");
  });
});

describe("pivotByTeam", () => {
  it("stacks backends per team, largest team first, unowned kept", () => {
    const row = (team: string, backend: string, total_bytes: number) => ({ team, backend, total_bytes, file_count: 1, last_access: null });
    const { bars, backends } = pivotByTeam([row("nlp", "s3", 5), row("vision", "s3", 10), row("vision", "gcs", 7), row("unowned", "local", 1)]);
    expect(backends).toEqual(["gcs", "local", "s3"]);
    expect(bars.map((b) => [b.team, b.total])).toEqual([["vision", 17], ["nlp", 5], ["unowned", 1]]);
    expect(bars[0].gcs).toBe(7);
  });
});

describe("breadcrumbs", () => {
  it("keeps the prefix's spelling for every ancestor", () => {
    expect(breadcrumbs("")).toEqual([]);
    expect(breadcrumbs("a/b/c")).toEqual([
      { name: "a", prefix: "a" },
      { name: "b", prefix: "a/b" },
      { name: "c", prefix: "a/b/c" },
    ]);
    expect(breadcrumbs("/data/x/").map((c) => c.prefix)).toEqual(["/data", "/data/x"]);
  });
});

describe("api helpers", () => {
  it("drops empty query values", () => {
    expect(buildUrl("/stale", { days: 90, owner: "", backend: undefined, prefix: "a b" })).toBe("/api/v1/stale?days=90&prefix=a+b");
  });
  it("reads the API's JSON error, or says what went wrong otherwise", () => {
    const e = errorFromResponse(400, "Bad Request", JSON.stringify({ error: { status: 400, code: "bad_parameter", param: "days", message: "days: must be a whole number" } }));
    expect([e.status, e.param, e.message]).toEqual([400, "days", "days: must be a whole number"]);
    expect(errorFromResponse(401, "Unauthorized", "").message).toMatch(/token/);
    expect(errorFromResponse(502, "Bad Gateway", "<html>proxy</html>").message).toBe("HTTP 502 Bad Gateway: <html>proxy</html>");
  });
});

describe("byteTicks", () => {
  it("steps on round numbers of one binary unit, covering the maximum", () => {
    const GiB = 1024 ** 3;
    expect(byteTicks(108 * GiB).map((t) => t / GiB)).toEqual([0, 25, 50, 75, 100, 125]);
    expect(byteTicks(3 * 1024 ** 4).map(formatTick)).toEqual(["0 B", "1 TiB", "2 TiB", "3 TiB"]);
    expect(byteTicks(1.5 * GiB).map(formatTick)).toEqual(["0 B", "512 MiB", "1 GiB", "1.50 GiB"]);
    expect(byteTicks(0)).toEqual([0]);
  });
});
