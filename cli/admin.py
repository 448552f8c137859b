"""Changes an admin makes: quotas, team membership, ownership rules, deletion marks, dead letters."""

from __future__ import annotations

from typing import Any

import click

from warpdrive.schemas.units import family_of, format_size

from .context import Ctl, examples, format_option, page_options, pass_ctl
from .errors import ApiError, CtlError
from .follow import check, follow
from .output import Column, list_items
from .params import LOCATION, SIZE, Location


@click.group(
    epilog=examples(
        "quota list",
        "quota set --team vision --backend s3 --soft 500TB --hard 600TB",
        "quota delete --team vision --backend s3",
    )
)
def quota() -> None:
    """Soft and hard storage quotas per team, on one backend or all of them."""


def _family(row: dict) -> str | None:
    return row.get("unit_family")


QUOTA_COLUMNS = [
    Column("team", "TEAM"),
    Column("backend", "BACKEND", get=lambda r: r.get("backend") or "all"),
    Column("soft_limit", "SOFT", "size", family=_family),
    Column("hard_limit", "HARD", "size", family=_family),
    Column("usage_bytes", "USAGE", "size", family=_family),
    Column(
        "used_pct",
        "USED",
        "pct",
        lambda r: (
            100 * r["usage_bytes"] / r["hard_limit"]
            if r.get("hard_limit") and r.get("usage_bytes") is not None
            else None
        ),
    ),
    Column("level", "LEVEL"),
]


@quota.command("list", epilog=examples("quota list", "quota list --format csv"))
@format_option
@pass_ctl
def quota_list(ctl: Ctl) -> None:
    """Every quota with the team's current usage and level (ok, soft, hard)."""
    doc = ctl.client.get("/api/v1/quota")
    ctl.emit(list_items(doc), QUOTA_COLUMNS, doc)


@quota.command(
    "set",
    epilog=examples(
        "quota set --team vision --backend s3 --soft 500TB --hard 600TB",
        "quota set --team nlp --soft 1.5PiB --hard 2PiB   # all backends together",
    ),
)
@click.option("--team", required=True, help="Team name.")
@click.option("--backend", help="Backend name; omit for one quota over all backends.")
@click.option(
    "--soft",
    required=True,
    type=SIZE,
    help="Soft limit (500TB, 1.5TiB, 1T, bytes): crossing it logs a WARNING and publishes a 'soft' "
    "breach; nothing is blocked.",
)
@click.option(
    "--hard",
    required=True,
    type=SIZE,
    help="Hard limit (>= --soft): above it every agent refuses the team members' creates, opens for "
    'writing, writes, truncates and renames with EDQUOT ("Disk quota exceeded"); reads, listing '
    "and deletes still work. Takes effect on every live agent about a second after a change.",
)
@click.option("--force", is_flag=True, help="Set it even if the team has no members and owns no data (a typo?).")
@format_option
@pass_ctl
def quota_set(ctl: Ctl, team: str, backend: str | None, soft: int, hard: int, force: bool) -> None:
    """Creates or replaces a team's quota (sizes are shown in the units you typed)."""
    family = family_of(soft, hard)
    if soft > hard:
        raise click.BadParameter(
            f"the soft limit ({format_size(soft, family)}) exceeds the hard limit ({format_size(hard, family)})",
            param_hint="'--soft'",
        )
    try:
        doc = ctl.client.put(
            "/api/v1/quota", {"team": team, "backend": backend, "soft": soft, "hard": hard, "force": force}
        )
    except ApiError as e:
        if e.status == 409 and e.param == "force":
            raise CtlError(
                f"team {team!r} has no members and owns no data (a typo?); add --force to set its quota anyway"
            ) from None
        raise
    ctl.say(
        f"quota for team {team} on {backend or 'all backends'}: "
        f"{format_size(soft, family)} / {format_size(hard, family)} (soft / hard)",
        doc,
    )


@quota.command("delete", epilog=examples("quota delete --team vision --backend s3", "quota delete --team nlp"))
@click.option("--team", required=True, help="Team name.")
@click.option("--backend", help="Backend name; omit for the all-backends quota.")
@format_option
@pass_ctl
def quota_delete(ctl: Ctl, team: str, backend: str | None) -> None:
    """Removes a team's quota."""
    ctl.client.delete("/api/v1/quota", team=team, backend=backend)
    ctl.say(
        f"deleted the quota of team {team} on {backend or 'all backends'}",
        {"deleted": {"team": team, "backend": backend}},
    )


@click.group(
    epilog=examples("teams list", "teams set alice vision", "teams delete alice vision", "teams delete --all vision")
)
def teams() -> None:
    """Which team each user belongs to (a user's files count for the team)."""


@teams.command("list", epilog=examples("teams list", "teams list --team vision --format csv"))
@click.option("--team", help="Only this team.")
@click.option("--user", help="Only this user.")
@page_options
@format_option
@pass_ctl
def teams_list(ctl: Ctl, team: str | None, user: str | None, limit: int | None, offset: int) -> None:
    """User → team memberships."""
    ctl.emit_list(
        "/api/v1/teams", {"team": team, "user": user}, [Column("user", "USER"), Column("team", "TEAM")], limit, offset
    )


@teams.command("set", epilog=examples("teams set alice vision"))
@click.argument("user")
@click.argument("team")
@format_option
@pass_ctl
def teams_set(ctl: Ctl, user: str, team: str) -> None:
    """Puts USER in TEAM."""
    doc = ctl.client.put("/api/v1/teams", {"user": user, "team": team})
    ctl.say(f"{user} is in team {team}", doc)


@teams.command("delete", epilog=examples("teams delete alice vision", "teams delete --all vision"))
@click.argument("args", nargs=-1, metavar="USER TEAM | --all TEAM")
@click.option("--all", "whole", is_flag=True, help="Delete TEAM itself: every member and every quota of the team.")
@format_option
@pass_ctl
def teams_delete(ctl: Ctl, args: tuple[str, ...], whole: bool) -> None:
    """Takes USER out of TEAM, or with --all deletes TEAM (its members and quotas; agents stop enforcing
    them within seconds)."""
    if whole:
        if len(args) != 1:
            raise click.UsageError("--all takes one argument: the TEAM")
        ctl.client.delete("/api/v1/teams", team=args[0])
        ctl.say(f"team {args[0]} deleted (its members and quotas)", {"deleted": {"team": args[0]}})
        return
    if len(args) != 2:
        raise click.UsageError("expected USER TEAM (or --all TEAM)")
    user, team = args
    ctl.client.delete("/api/v1/teams", user=user, team=team)
    ctl.say(f"{user} is no longer in team {team}", {"deleted": {"user": user, "team": team}})


@click.group(
    epilog=examples(
        "ownership list",
        "ownership set s3:datasets/vision --team vision --user alice",
        "ownership delete s3:datasets/vision",
    )
)
def ownership() -> None:
    """Explicit ownership rules: a backend prefix belongs to a team (longest prefix wins)."""


@ownership.command("list", epilog=examples("ownership list", "ownership list --backend s3 --format json"))
@click.option("--backend", default="all", show_default=True, help="One backend by name, or all.")
@page_options
@format_option
@pass_ctl
def ownership_list(ctl: Ctl, backend: str, limit: int | None, offset: int) -> None:
    """Ownership rules, by backend and prefix."""
    columns = [
        Column("backend", "BACKEND"),
        Column("prefix", "PREFIX", get=lambda r: r.get("prefix") or "(all)"),
        Column("team", "TEAM"),
        Column("user", "USER"),
        Column("created_at", "CREATED", "time"),
    ]
    if ctl.fmt == "csv":
        columns[1] = Column("prefix", "PREFIX")
    ctl.emit_list("/api/v1/ownership", {"backend": backend}, columns, limit, offset)


@ownership.command(
    "set",
    epilog=examples(
        "ownership set s3:datasets/vision --team vision", "ownership set gcs: --team platform   # the whole backend"
    ),
)
@click.argument("location", type=LOCATION)
@click.option("--team", required=True, help="Owning team.")
@click.option("--user", help="Owning user (optional).")
@format_option
@pass_ctl
def ownership_set(ctl: Ctl, location: Location, team: str, user: str | None) -> None:
    """Makes TEAM (and --user) own everything under [BACKEND:]PREFIX."""
    backend, prefix = ctl.resolve(location)
    doc = ctl.client.put("/api/v1/ownership", {"backend": backend, "prefix": prefix, "team": team, "user": user})
    ctl.say(f"{backend}:{prefix} is owned by team {team}{f' (user {user})' if user else ''}", doc)


@ownership.command("delete", epilog=examples("ownership delete s3:datasets/vision"))
@click.argument("location", type=LOCATION)
@format_option
@pass_ctl
def ownership_delete(ctl: Ctl, location: Location) -> None:
    """Removes the rule for exactly [BACKEND:]PREFIX."""
    backend, prefix = ctl.resolve(location)
    ctl.client.delete("/api/v1/ownership", backend=backend, prefix=prefix)
    ctl.say(f"deleted the ownership rule for {backend}:{prefix}", {"deleted": {"backend": backend, "prefix": prefix}})


@click.group(
    epilog=examples(
        "marks list",
        "marks add s3:runs/old/ckpt.pt s3:runs/old/log.txt --note 'stale 1y'",
        "marks remove s3:runs/old/log.txt",
    )
)
def marks() -> None:
    """Deletion marks: files flagged for review. Marking never deletes anything and can be undone."""


def _files(ctl: Ctl, locations: tuple[Location, ...]) -> list[dict[str, str]]:
    files = []
    for loc in locations:
        backend, path = ctl.resolve(loc)
        files.append({"backend": backend, "path": path})
    return files


@marks.command(
    "list",
    epilog=examples(
        "marks list", "marks list --backend s3 --prefix runs/ --format csv", "marks list --read-since-mark"
    ),
)
@click.option("--backend", default="all", show_default=True, help="One backend by name, or all.")
@click.option("--prefix", help="Only paths under this prefix.")
@click.option("--owner", help="Only files owned by this team or user.")
@click.option(
    "--read-since-mark",
    "read_since",
    flag_value="true",
    default=None,
    help="Only marks whose file was read after it was marked (review them before deleting).",
)
@page_options
@format_option
@pass_ctl
def marks_list(
    ctl: Ctl,
    backend: str,
    prefix: str | None,
    owner: str | None,
    read_since: str | None,
    limit: int | None,
    offset: int,
) -> None:
    """Marked files, newest first: who marked them, why, whether they still exist and were read since."""
    columns = [
        Column("backend", "BACKEND"),
        Column("path", "PATH"),
        Column("size_bytes", "SIZE", "size"),
        Column("owner_team", "TEAM"),
        Column("last_access", "LAST ACCESS", "time"),
        Column("read_since_mark", "READ SINCE", "bool"),
        Column("exists", "EXISTS", "bool"),
        Column("marked_by", "BY"),
        Column("marked_at", "MARKED", "time"),
        Column("note", "NOTE"),
    ]

    def notes(doc: dict[str, Any]) -> list[str]:
        items = list_items(doc)
        out = [
            f"{len(items)} of {doc.get('total', len(items)):,} marked files; {format_size(doc.get('total_bytes', 0))} in all"
        ]
        if doc.get("read_since_mark"):
            out.append(
                f"{doc['read_since_mark']:,} of them were read after they were marked (--read-since-mark lists them)"
            )
        return out

    ctl.emit_list(
        "/api/v1/marks",
        {"backend": backend, "prefix": prefix, "owner": owner, "read_since_mark": read_since},
        columns,
        limit,
        offset,
        notes,
    )


@marks.command("add", epilog=examples("marks add s3:runs/2024/ckpt.pt --note 'unread since 2024'"))
@click.argument("locations", type=LOCATION, nargs=-1, required=True, metavar="[BACKEND:]PATH...")
@click.option("--note", help="Why (shown to reviewers).")
@format_option
@pass_ctl
def marks_add(ctl: Ctl, locations: tuple[Location, ...], note: str | None) -> None:
    """Marks files for deletion review."""
    doc = ctl.client.post("/api/v1/marks", {"files": _files(ctl, locations), "note": note})
    ctl.say(f"marked {doc.get('marked', len(locations))} file(s); nothing is deleted", doc)


@marks.command("remove", epilog=examples("marks remove s3:runs/2024/ckpt.pt"))
@click.argument("locations", type=LOCATION, nargs=-1, required=True, metavar="[BACKEND:]PATH...")
@format_option
@pass_ctl
def marks_remove(ctl: Ctl, locations: tuple[Location, ...]) -> None:
    """Unmarks files."""
    doc = ctl.client.delete("/api/v1/marks", {"files": _files(ctl, locations)})
    ctl.say(f"unmarked {doc.get('unmarked', 0)} file(s)", doc)


@marks.command(
    "delete",
    epilog=examples(
        "marks delete --dry-run",
        "marks delete --backend s3 --prefix runs/2024/ --dry-run -o csv",
        "marks delete --backend s3 --prefix runs/2024/ --retention 30 --wait",
        "marks delete --yes   # no question: for scripts",
    ),
)
@click.option("--backend", default="all", show_default=True, help="Only marks on this backend, or all.")
@click.option("--prefix", help="Only marks under this path prefix.")
@click.option("--owner", help="Only marks of files owned by this team or user.")
@click.option(
    "--retention",
    "retention_days",
    type=click.IntRange(0, 3650),
    metavar="DAYS",
    help="Days the trash stays restorable (default: the server's crawler.trash_retention_days).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only list exactly the files the job would move (and the marks held back, with why); change nothing.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait", is_flag=True, help="Follow the job until it ends.")
@format_option
@pass_ctl
def marks_delete(
    ctl: Ctl,
    backend: str,
    prefix: str | None,
    owner: str | None,
    retention_days: int | None,
    dry_run: bool,
    yes: bool,
    wait: bool,
) -> None:
    """Deletes marked files: moves them to a trash directory on their own backend, restorable until the retention
    period ends (`trash restore JOB`), then purged by the crawler's job runner (crawler.trash_purge_interval, hourly
    by default; `trash purge` at once). Trash is never crawled: it counts in no usage or stale figure.

    Always a dry run first: the exact files and bytes, confirmed before the job is submitted; a mark whose file was
    modified or read since marking, or is gone from the index, is held back and listed, never deleted.
    """
    body = {
        k: v
        for k, v in {"backend": backend, "prefix": prefix, "owner": owner, "retention_days": retention_days}.items()
        if v is not None
    }
    plan = ctl.client.post("/api/v1/marks/delete/dry-run", body)
    n, size = int(plan["total"]), int(plan["total_bytes"])
    summary = (
        f"{n:,} marked files, {format_size(size)} ({size:,} bytes) would move to {plan['trash_prefix']}/ on "
        f"their backends, restorable for {plan['retention_days']:g} days"
    )
    held = [f"held back (not deleted): {h['backend']}:{h['path']}: {h['reason']}" for h in plan.get("held") or []]
    if dry_run:
        columns = [
            Column("backend", "BACKEND"),
            Column("path", "PATH"),
            Column("size_bytes", "SIZE", "size"),
            Column("marked_by", "BY"),
            Column("marked_at", "MARKED", "time"),
        ]
        ctl.emit(plan["files"], columns, plan, [summary, *held])
        return
    for line in held:
        click.echo(line, err=True)
    if not n:
        raise CtlError("no marked file to delete" + (" (every mark of the filter is held back)" if held else ""))
    if not yes and not click.confirm(f"Move {summary}?", err=True):
        raise CtlError("nothing deleted")
    job = ctl.client.post("/api/v1/marks/delete", {**body, "expect": n, "expect_bytes": size})
    if wait:
        job = follow(ctl.client, job, err=ctl.fmt != "table")
    ctl.say(
        f"deletion job {job['job_id']} {job.get('state', 'queued')}: {n:,} files, {format_size(size)} to the trash "
        f"(restore with: warpdrive-ctl trash restore {job['job_id'][:12]})",
        job,
    )
    if wait:
        check([job])


@click.group(
    epilog=examples(
        "deadletters list",
        "deadletters show 42",
        "deadletters replay 42 43",
        "deadletters drop --all --topic warpdrive.access.v1 --yes",
    )
)
def deadletters() -> None:
    """Messages the stream workers could not decode or store: list, inspect, replay (after a fix) or drop them."""


DEAD_LETTER_COLUMNS = [
    Column("id", "ID", "int"),
    Column("topic", "TOPIC"),
    Column("partition", "PART", "int"),
    Column("offset", "OFFSET", "int"),
    Column("key", "KEY"),
    Column("size_bytes", "SIZE", "size"),
    Column("received_at", "RECEIVED", "time"),
    Column("error", "ERROR", get=lambda r: (r.get("error") or "")[:80]),
]


def _dead_letter_notes(doc: dict[str, Any]) -> list[str]:
    by_topic = doc.get("by_topic") or {}
    if not by_topic:
        return ["no dead letters"]
    return [f"{doc.get('total', 0):,} dead letter(s): " + ", ".join(f"{t} {n:,}" for t, n in sorted(by_topic.items()))]


@deadletters.command("list", epilog=examples("deadletters list", "deadletters list --topic warpdrive.access.v1 -o csv"))
@click.option("--topic", help="Only this topic (its full name, as listed).")
@page_options
@format_option
@pass_ctl
def deadletters_list(ctl: Ctl, topic: str | None, limit: int | None, offset: int) -> None:
    """Dead letters, oldest first, with their error; counts per topic below the table."""
    ctl.emit_list("/api/v1/deadletters", {"topic": topic}, DEAD_LETTER_COLUMNS, limit, offset, _dead_letter_notes)


@deadletters.command("show", epilog=examples("deadletters show 42", "deadletters show 42 -o json"))
@click.argument("dead_letter_id", type=click.IntRange(min=1), metavar="ID")
@format_option
@pass_ctl
def deadletters_show(ctl: Ctl, dead_letter_id: int) -> None:
    """One dead letter: where it came from, why it failed, and its payload (text preview; JSON has it whole)."""
    doc = ctl.client.get(f"/api/v1/deadletters/{dead_letter_id}")
    if ctl.fmt == "json":
        return ctl.emit([], [], doc)
    for k in ("id", "consumer", "topic", "partition", "offset", "key", "received_at", "size_bytes", "error"):
        click.echo(f"{k:12} {doc.get(k)}")
    more = " (truncated; -o json has the whole payload, base64)" if doc.get("payload_truncated") else ""
    click.echo(f"payload{more}:\n{doc.get('payload_preview', '')}")


def _dead_letter_ids(ctl: Ctl, ids: tuple[int, ...], every: bool, topic: str | None) -> list[int]:
    if bool(ids) == every:
        raise click.UsageError("give dead letter IDs, or --all (optionally with --topic)")
    if ids:
        return list(ids)
    out: list[int] = []
    while True:  # page by page: ids are stable while nothing else replays or drops
        doc = ctl.client.get("/api/v1/deadletters", topic=topic, limit=1000, offset=len(out))
        items = list_items(doc)
        out += [int(r["id"]) for r in items]
        if len(items) < 1000:
            return out


def _dead_letter_batches(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + 10_000] for i in range(0, len(ids), 10_000)]


ids_argument = click.argument("ids", type=click.IntRange(min=1), nargs=-1, metavar="[ID]...")
all_option = click.option("--all", "every", is_flag=True, help="Every dead letter (of --topic, if given).")
topic_option = click.option("--topic", help="With --all: only this topic.")


@deadletters.command(
    "replay", epilog=examples("deadletters replay 42 43", "deadletters replay --all --topic t.warpdrive.listing.v1")
)
@ids_argument
@all_option
@topic_option
@format_option
@pass_ctl
def deadletters_replay(ctl: Ctl, ids: tuple[int, ...], every: bool, topic: str | None) -> None:
    """Sends dead letters back onto their own topics (same key), for the workers to try again — after the cause was
    fixed (a worker upgrade). They leave the list; one that fails again comes back as a new dead letter."""
    chosen = _dead_letter_ids(ctl, ids, every, topic)
    replayed = foreign = missing = 0
    for batch in _dead_letter_batches(chosen):
        doc = ctl.client.post("/api/v1/deadletters/replay", {"ids": batch})
        replayed, missing = replayed + doc.get("replayed", 0), missing + doc.get("missing", 0)
        foreign += doc.get("foreign", 0)
    result = {"replayed": replayed, "foreign": foreign, "missing": missing}
    ctl.say(
        f"replayed {replayed} dead letter(s)"
        + (f"; {missing} not found" if missing else "")
        + (f"; {foreign} kept: their topic is not one of this deployment's" if foreign else ""),
        result,
    )


@deadletters.command(
    "drop", epilog=examples("deadletters drop 42", "deadletters drop --all --topic t.warpdrive.access.v1 --yes")
)
@ids_argument
@all_option
@topic_option
@click.option("--yes", is_flag=True, help="Do not ask before dropping with --all.")
@format_option
@pass_ctl
def deadletters_drop(ctl: Ctl, ids: tuple[int, ...], every: bool, topic: str | None, yes: bool) -> None:
    """Deletes dead letters for good (their messages are not applied)."""
    chosen = _dead_letter_ids(ctl, ids, every, topic)
    if every and not yes:
        click.confirm(f"drop {len(chosen)} dead letter(s) for good?", abort=True)
    dropped = missing = 0
    for batch in _dead_letter_batches(chosen):
        doc = ctl.client.post("/api/v1/deadletters/drop", {"ids": batch})
        dropped, missing = dropped + doc.get("dropped", 0), missing + doc.get("missing", 0)
    ctl.say(
        f"dropped {dropped} dead letter(s)" + (f"; {missing} not found" if missing else ""),
        {"dropped": dropped, "missing": missing},
    )


COMMANDS = [quota, teams, ownership, marks, deadletters]
