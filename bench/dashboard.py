"""Every dashboard page in Debian's Chromium against the generated database of bench/api_latency.py: navigation start
to data on screen, cold (a fresh browser context: empty HTTP cache) and warm (the page again, assets cached).

As a peer in the same run, each API request the page made is timed alone (one client, sequentially, after the page
runs): a page's time over its slowest request's is what the browser adds (assets, scripts, rendering, requests made
one after another). Goal (issue 20): every page < 0.5 s warm and < 1 s cold.

    .venv/bin/python bench/api_latency.py --stack /tmp/wds1 --name wdbench_10m --generate-only   # 10M / 50M, ~26 min
    .venv/bin/python bench/dashboard.py --stack /tmp/wds1 --reuse wdbench_10m
    # two builds compared in the same machine state, taking turns:
    .venv/bin/python bench/dashboard.py --stack /tmp/wds1 --reuse wdbench_10m --dist before=/tmp/old/dist --dist after=web/dist --rounds 2

``--files N --access M`` instead generates a database of that size here (dropped afterwards unless ``--keep``). The
dashboard is served from web/dist (built first if missing), or from each ``--dist`` folder, by a real
``warpdrive api serve``; the driver is bench/dashboard.mjs (web/tests/e2e/chromium.mjs's Chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

import api_latency
from warpdrive.compose.stack import Stack
from warpdrive.schemas.db import create_database, database_dsn, drop_database

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
DRIVER = Path(__file__).with_name("dashboard.mjs")

# (name, path, selector of the page's data rendered), over api_latency's generated names (team<N>, user<N>, the
# proj/grp/exp tree on every backend, s3's wide directory).
PAGES = [
    ("overview", "/", "[data-testid=team-chart] .recharts-bar-rectangle"),
    ("backends", "/backends", "[data-testid=backend-table] tbody tr"),
    ("backend s3", "/backends/s3", "[data-testid=growth-chart] .recharts-line"),
    ("tree s3 /", "/tree/s3", "[data-testid=tree-table] tbody tr"),
    ("tree s3 proj7/grp3", "/tree/s3?prefix=proj7/grp3", "[data-testid=tree-table] tbody tr"),
    ("tree s3 wide dir", f"/tree/s3?prefix={api_latency.WIDE}", "[data-testid=tree-table] tbody tr"),
    ("stale 90 d", "/stale", "[data-testid=file-table] tbody tr[data-path]"),
    ("stale dir", "/stale?backend=s3&prefix=proj7/grp3/", "[data-testid=file-table] tbody tr[data-path]"),
    ("stale team", "/stale?owner=team3", "[data-testid=file-table] tbody tr[data-path]"),
    ("marks", "/marks", "[data-testid=marks-table] tbody tr[data-path]"),
    ("users", "/users", "[data-testid=users-table] tbody tr"),
    ("user", "/users/user42", "[data-testid=owned-table] tbody tr"),
    ("teams", "/teams", "[data-testid=teams-table] tbody tr"),
    ("team", "/teams/team3", "[data-testid=team-members] tbody tr"),
    ("quotas", "/quotas", "[data-testid=quota-table] tbody tr"),
    ("status", "/status", "[data-testid=status-backends] tbody tr"),
]


def load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def build_dist() -> None:
    if (WEB / "dist" / "index.html").is_file():
        return
    print("building web/dist (npm run build) …", flush=True)
    subprocess.run(["npm", "run", "build"], cwd=WEB, check=True, stdout=subprocess.DEVNULL)


def drive(base: str, pages: list[tuple[str, str, str]], cold: int, warm: int) -> dict:
    spec = {
        "web": str(WEB),
        "base": base,
        "token": api_latency.TOKEN,
        "cold": cold,
        "warm": warm,
        "pages": [{"name": n, "path": p, "ready": r} for n, p, r in pages],
    }
    p = subprocess.run(["node", str(DRIVER), json.dumps(spec)], cwd=WEB, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"the browser driver failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)["pages"]


def time_alone(base: str, paths: list[str], n: int) -> dict[str, float]:
    """Median ms of each request alone, after one untimed request (the page's run already warmed the server)."""
    out = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_latency.TOKEN}"}, timeout=120) as c:
        for path in paths:
            c.get(path)  # as the page asked it, whatever the answer (a viewer gets 403 from admin-only lists)
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                c.get(path)
                lat.append((time.perf_counter() - t0) * 1000)
            out[path] = statistics.median(lat)
    return out


def merge(into: dict, seen: dict) -> None:
    """One driver run's pages added to the runs before (the rounds of one build)."""
    for page, r in seen.items():
        acc = into.setdefault(page, {"cold": [], "warm": [], "requests": [], "errors": [], "failed": None})
        acc["cold"] += r["cold"]
        acc["warm"] += r["warm"]
        acc["requests"] += [q for q in r["requests"] if q not in acc["requests"]]
        acc["errors"] += r["errors"]
        acc["failed"] = acc["failed"] or r.get("failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack"
    )
    ap.add_argument("--reuse", help="an existing database generated by bench/api_latency.py")
    ap.add_argument("--files", type=int, default=1_000_000, help="without --reuse: generate this many files here")
    ap.add_argument("--access", type=int, default=5_000_000, help="without --reuse: and this many access rows")
    ap.add_argument("--keep", action="store_true", help="keep a database generated here")
    ap.add_argument("--cold", type=int, default=3, help="cold loads per page, each in a fresh browser context")
    ap.add_argument("--warm", type=int, default=5, help="warm loads per page")
    ap.add_argument("--pages", help="comma-separated page names (default: every page)")
    ap.add_argument(
        "--dist",
        action="append",
        metavar="LABEL=DIR",
        help="a built dashboard to measure (repeat to compare builds: each is served by its own API over the same "
        "database, and the builds take turns in every round); default: web/dist, built if missing",
    )
    ap.add_argument("--rounds", type=int, default=1, help="rounds over every build (each: every page, every build)")
    args = ap.parse_args()

    stack = Stack(Path(args.stack))
    base_dsn = stack.postgres_dsn()
    name = args.reuse or f"wdbench_{uuid.uuid4().hex[:8]}"
    dsn = database_dsn(base_dsn, name)
    pages = [p for p in PAGES if not args.pages or p[0] in args.pages.split(",")]
    dists = dict(d.split("=", 1) for d in args.dist) if args.dist else {"web/dist": ""}
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; database {name}; "
        + ("reused as generated before" if args.reuse else f"{args.files:,} files, {args.access:,} access rows")
        + f"; {load()}",
        flush=True,
    )
    if args.reuse:
        asyncio.run(api_latency.migrate_reused(dsn))
    else:
        asyncio.run(create_database(base_dsn, name))
    if not args.dist:
        build_dist()
    procs = []
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            asyncio.run(api_latency.generate(dsn, args.files, args.access))
            print(f"generated in {time.perf_counter() - t0:.0f}s", flush=True)
        bases: dict[str, str] = {}
        for label, dist in dists.items():
            port = api_latency.free_port()
            log = Path(tempfile.gettempdir()) / f"{name}-dashboard-{len(bases)}-api.log"
            procs.append(api_latency.serve(dsn, stack, port, log, web_dist=str(Path(dist).resolve()) if dist else ""))
            bases[label] = f"http://127.0.0.1:{port}"
        print(
            f"pages in Chromium: {args.cold} cold (fresh context) and {args.warm} warm loads each, per round and build; "
            f"{args.rounds} round(s) over {', '.join(dists)}; peer: each API request of the page alone, median of "
            f"{args.warm}",
            flush=True,
        )
        results: dict[str, dict] = {label: {} for label in dists}
        for rnd in range(args.rounds):
            for label, base in bases.items():
                merge(results[label], drive(base, pages, args.cold, args.warm))
                print(f"  round {rnd + 1}, {label} done; {load()}", flush=True)
        print(
            f"  {'page':20} {'build':10} {'cold med':>9} {'cold max':>9} {'warm med':>9} {'warm max':>9} "
            f"{'API alone':>10} {'warm/API':>9}  {'warm: DOM ready, API sent, API done':>35}  slowest request",
            flush=True,
        )
        worst = {label: [0.0, 0.0] for label in dists}
        first = next(iter(bases.values()))
        for page, _, _ in pages:
            alone: dict[str, float] | None = None
            for label in dists:
                r = results[label][page]
                if r["failed"]:
                    print(f"  {page:20} {label:10} FAILED: {r['failed']}", flush=True)
                    continue
                if alone is None:  # the API is the same for every build: timed once, on the first build's server
                    alone = time_alone(first, r["requests"], args.warm)
                slowest = max(alone, key=alone.__getitem__) if alone else "-"
                api_ms = alone.get(slowest, 0.0)
                cold_ms, warm_ms = [x["ms"] for x in r["cold"]], [x["ms"] for x in r["warm"]]
                cold_med, warm_med = statistics.median(cold_ms), statistics.median(warm_ms)
                parts = "/".join(
                    f"{statistics.median(x[k] for x in r['warm']):.0f}" for k in ("dcl", "apiStart", "apiEnd")
                )
                worst[label] = [max(worst[label][0], cold_med), max(worst[label][1], warm_med)]
                print(
                    f"  {page:20} {label:10} {cold_med:7.0f}ms {max(cold_ms):7.0f}ms {warm_med:7.0f}ms "
                    f"{max(warm_ms):7.0f}ms {api_ms:8.1f}ms {warm_med / api_ms if api_ms else 0:8.1f}x  "
                    f"{parts + ' ms':>35}  {slowest} ({len(alone)} requests)",
                    flush=True,
                )
                for e in sorted(set(r["errors"])):
                    print(f"    console error: {e[:200]}", flush=True)
        for label, (cold, warm) in worst.items():
            print(
                f"{label}: slowest page median: cold {cold:.0f} ms (goal < 1000), warm {warm:.0f} ms (goal < 500)",
                flush=True,
            )
        print(load(), flush=True)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        if not (args.reuse or args.keep):
            asyncio.run(drop_database(base_dsn, name))


if __name__ == "__main__":
    main()
