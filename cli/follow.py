"""Following a job until it ends: a progress line redrawn on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from warpdrive.schemas.jobs import FINISHED
from warpdrive.schemas.units import format_size

from .client import Client
from .errors import CtlError, JobFailed
from .output import list_items

BAR = 30
POLL_SECONDS = 0.5


# (done, total) counter names: movers report files_done/bytes_done, warming agents files/bytes.
COUNTERS = ((("bytes_done", "bytes"), "bytes_total", True), (("files_done", "files"), "files_total", False))


def _size(n: float) -> str:
    return format_size(int(n))  # a JSON counter: bytes are whole


def _count(n: float) -> str:
    return f"{n:,}"


def describe(progress: dict[str, Any]) -> tuple[float | None, str]:
    """(fraction done or None, a short text) from a job's progress, whatever counters it reports."""
    if progress.get("dry_run"):  # a dry run only lists: its totals are what it has found so far
        files, size = progress.get("files_total") or 0, progress.get("bytes_total") or 0
        return None, f"counted {files:,} files, {format_size(size)}"
    parts: list[str] = []
    fraction: float | None = None
    used: set[str] = set()
    for done_keys, total_key, is_bytes in COUNTERS:
        done_key = next((k for k in done_keys if isinstance(progress.get(k), (int, float))), None)
        if done_key is None:
            continue
        done, total = progress[done_key], progress.get(total_key)
        used |= {done_key, total_key}
        fmt = _size if is_bytes else _count
        text = f"{fmt(done)}/{fmt(total)}" if isinstance(total, (int, float)) else fmt(done)
        parts.append(text if is_bytes else f"{text} files")
        if fraction is None and total:
            fraction = min(1.0, done / total)
    # Other counters only when they say something (errors=2, files_skipped=3); names and paths are in the job's args.
    extra = [
        f"{k}={_size(v) if k.startswith('bytes') else v}"
        for k, v in progress.items()
        if k not in used and isinstance(v, (int, float)) and not isinstance(v, bool) and v
    ]
    return fraction, ", ".join(parts + extra)


def line(job: dict[str, Any]) -> str:
    fraction, text = describe(job.get("progress") or {})
    pct = f" {fraction * 100:.0f}%" if fraction is not None else ""
    return f"job {job['job_id']} {job.get('state')}{pct}{': ' + text if text else ''}"


def follow(client: Client, job: dict[str, Any], err: bool = False) -> dict[str, Any]:
    """Polls GET /api/v1/jobs/{id} until the job ends; returns its last state.

    Progress goes to stdout, or to stderr when `err` (CSV/JSON output must stay parseable).
    """
    try:
        return _follow(client, job, err)
    except KeyboardInterrupt:
        click.echo(err=err)
        raise CtlError(
            f"stopped following job {job['job_id']}; it keeps running "
            f"(stop it with: warpdrive-ctl jobs cancel {job['job_id']})"
        ) from None


def _follow(client: Client, job: dict[str, Any], err: bool) -> dict[str, Any]:
    tty = (sys.stderr if err else sys.stdout).isatty()
    last = ""
    while True:
        text = line(job)
        if tty:
            fraction, _ = describe(job.get("progress") or {})
            bar = "" if fraction is None else "[" + "#" * int(fraction * BAR) + "." * (BAR - int(fraction * BAR)) + "] "
            click.echo(f"\r\x1b[2K{bar}{text}", nl=False, err=err)
        elif text != last:
            click.echo(text, err=err)  # piped: one line per change, no control characters
        last = text
        if job.get("state") in FINISHED:
            break
        time.sleep(POLL_SECONDS)
        job = client.get(f"/api/v1/jobs/{job['job_id']}")
    if tty:
        click.echo(err=err)
    return job


def follow_nodes(client: Client, job_id: str, nodes: list[str], err: bool = False) -> dict[str, dict[str, Any]]:
    """Waits until each node's own run of a job (a warm on several agents) has ended, from the nodes'
    heartbeats: the job's row ends with the first node to finish. A node that stops heartbeating is
    ``lost``. Prints a line per node as it ends; returns node → its last report."""
    try:
        return _follow_nodes(client, job_id, nodes, err)
    except KeyboardInterrupt:
        click.echo(err=err)
        raise CtlError(
            f"stopped waiting for the nodes of job {job_id}; they keep warming (see: warpdrive-ctl status)"
        ) from None


def _follow_nodes(client: Client, job_id: str, nodes: list[str], err: bool) -> dict[str, dict[str, Any]]:
    pending: set[str] = set(nodes)
    ended: dict[str, dict[str, Any]] = {}
    while True:
        agents = {a.get("node_host"): a for a in list_items(client.get("/api/v1/agents"))}
        for node in sorted(pending):
            agent = agents.get(node) or {}
            mine = ((agent.get("status") or {}).get("jobs") or {}).get(job_id)
            if isinstance(mine, dict) and mine.get("state") in FINISHED:
                ended[node] = mine
            elif not agent.get("alive"):
                ended[node] = {**(mine if isinstance(mine, dict) else {}), "state": "lost"}
            else:
                continue
            pending.discard(node)
            _, text = describe(ended[node])
            click.echo(f"node {node} {ended[node]['state']}{': ' + text if text else ''}", err=err)
        if not pending:
            return ended
        time.sleep(POLL_SECONDS)


def check(jobs: list[dict[str, Any]]) -> None:
    """Raises JobFailed (exit 1) naming every followed job, or node of one, that did not end done."""
    bad = [
        f"job {j['job_id']} {j.get('state')}: {j.get('error') or 'no reason given'}"
        for j in jobs
        if j.get("state") != "done"
    ]
    bad += [
        f"job {j['job_id']} {r.get('state')} on node {node}"
        for j in jobs
        for node, r in sorted((j.get("nodes") or {}).items())
        if r.get("state") != "done"
    ]
    if bad:
        raise JobFailed("; ".join(bad))
