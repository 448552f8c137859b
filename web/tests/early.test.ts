import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, lists, startEarly } from "../src/api";
import { overview, stale } from "../src/opening";

// Opening requests started at navigation (App.tsx <Opens>) are taken by the page's first identical request.

function fakeFetch(answer: (url: string) => { status: number; body: unknown }) {
  const urls: string[] = [];
  vi.stubGlobal("fetch", async (url: string) => {
    urls.push(url);
    const { status, body } = answer(url);
    return new Response(JSON.stringify(body), { status, statusText: status === 200 ? "OK" : "Error" });
  });
  return urls;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("startEarly", () => {
  it("sends each request once: the page's first identical request takes the answer, later ones ask again", async () => {
    const urls = fakeFetch(() => ({ status: 200, body: { items: [{ name: "s3" }] } }));
    startEarly([overview().backends]);
    expect(urls).toEqual(["/api/v1/backends"]);
    expect(await api.backends()).toEqual([{ name: "s3" }]);
    expect(urls).toHaveLength(1);
    await api.backends(); // a reload: a new answer
    expect(urls).toHaveLength(2);
  });

  it("matches a request whatever order the page names its parameters in", async () => {
    const urls = fakeFetch(() => ({ status: 200, body: { items: [], total: 0 } }));
    startEarly([() => lists.marksFiltered({ limit: 200, offset: 0 })]);
    await lists.marksFiltered({ offset: 0, limit: 200 });
    expect(urls).toEqual(["/api/v1/marks?limit=200&offset=0"]);
  });

  it("asks the stale list as the page does, from the same URL", async () => {
    const urls = fakeFetch(() => ({ status: 200, body: { items: [] } }));
    const search = new URLSearchParams("owner=nlp&sort=last_modified");
    startEarly([stale(search).stale]);
    await stale(new URLSearchParams("sort=last_modified&owner=nlp")).stale();
    expect(urls).toHaveLength(1);
    expect(urls[0]).toContain("owner=nlp");
  });

  it("keeps an early error for the page (no unhandled rejection) and drops untaken answers at the next start", async () => {
    const urls = fakeFetch((url) => (url.includes("quota") ? { status: 503, body: { error: { message: "down" } } } : { status: 200, body: { items: [] } }));
    startEarly([api.quotas, api.backends]); // api.quotas unwraps its list: its own promise rejects too
    await expect(api.quotas()).rejects.toBeInstanceOf(ApiError);
    startEarly([]); // the next navigation: the backends answer nobody took is gone
    await api.backends();
    expect(urls.filter((u) => u === "/api/v1/backends")).toHaveLength(2);
  });

  it("never reuses anything but GETs", async () => {
    const urls = fakeFetch(() => ({ status: 200, body: {} }));
    startEarly([() => api.mark([{ backend: "s3", path: "a" }])]);
    await api.mark([{ backend: "s3", path: "a" }]);
    expect(urls).toHaveLength(2);
  });
});
