"""`warpdrive agent …`: mount and unmount the node agent's file system."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import trio

from warpdrive.schemas import config as wconfig
from warpdrive.schemas import logs
from warpdrive.schemas.errors import SchemaError

from .errors import AgentError


@click.group()
def cli() -> None:
    """FUSE node agent: mount every backend, record every access."""


@cli.command()
@click.argument("mountpoint", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote, else built-in defaults).",
)
def mount(mountpoint: Path, config_path: str | None) -> None:
    """Mount every configured backend under MOUNTPOINT/<backend>/ until SIGINT/SIGTERM or unmount.

    Example: warpdrive agent mount /mnt/warpdrive --config /etc/warpdrive.toml
    """
    from .node import Agent  # pyfuse3 loads libfuse3; only this command needs it

    try:
        cfg = wconfig.load(config_path)
        logs.apply(cfg, "agent", cfg.agent.node_name)
        if not mountpoint.is_dir():
            raise click.ClickException(f"mount point {mountpoint} is not a directory")
        trio.run(Agent(cfg, mountpoint.resolve()).run)
    except (SchemaError, AgentError) as e:
        raise click.ClickException(str(e)) from None


@cli.command()
@click.argument("mountpoint", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lazy", is_flag=True, help="Detach now even if busy; the kernel finishes when files close.")
def unmount(mountpoint: Path, lazy: bool) -> None:
    """Unmount MOUNTPOINT (the agent then flushes its telemetry and exits).

    Example: warpdrive agent unmount /mnt/warpdrive
    """
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise click.ClickException("fusermount3 not found (install the fuse3 package)")
    done = subprocess.run([tool, "-u", *(["-z"] if lazy else []), str(mountpoint)], capture_output=True, text=True)
    if done.returncode:
        raise click.ClickException(f"cannot unmount {mountpoint}: {done.stderr.strip() or 'fusermount3 failed'}")
