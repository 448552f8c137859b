"""What one run started — stacks, processes, FUSE mounts — recorded on disk so that it, and only it,
can be stopped by id later, even after the runner itself was killed.

The machine is shared: other test runs, stacks, mounts and benchmarks live beside ours, often under
names like ours. So nothing here ever matches by name or pattern. A process is recorded as its pid
*and* its start time (``/proc/<pid>/stat`` field 22), so a pid the kernel has since handed to another
process is never signalled; a mount is recorded by its path and unmounted only if it is still a mount.

``WARPDRIVE_RUN_LEDGER=<dir>`` names the ledger of the current run (``compose/dev.sh test`` sets it; a
bare pytest session makes its own). Everything that starts something — :class:`Stack`, the tests'
process and mount fixtures — appends one line to ``<dir>/ledger``; ``warpdrive stack reap --ledger <dir>``
(what dev.sh's exit trap runs) stops it all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

ENV = "WARPDRIVE_RUN_LEDGER"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when there is no such (live) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(") ", 1)[1].split()  # the command name may contain spaces and parens
    if fields[0] == "Z":
        return None  # a zombie has exited
    return int(fields[19])


def same_process(pid: int, started: int | None) -> bool:
    """True while ``pid`` is still the process that had start time ``started`` (None: any live one)."""
    now = start_time(pid)
    return now is not None and (started is None or now == started)


class Ledger:
    """Append-only record of one run's stacks, processes and mounts in ``<dir>/ledger``."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.file = self.dir / "ledger"

    @classmethod
    def current(cls) -> "Ledger | None":
        d = os.environ.get(ENV)
        return cls(Path(d)) if d else None

    def _add(self, kind: str, value: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # One short line per append: O_APPEND writes this small are atomic, so concurrent recorders never interleave.
        with open(self.file, "a") as f:
            f.write(f"{kind} {value}\n")

    def process(self, pid: int) -> None:
        """Records a process (the leader of its own session/process group) started by this run."""
        self._add("process", f"{pid} {start_time(pid) or 0}")

    def stack(self, state_dir: Path) -> None:
        self._add("stack", str(Path(state_dir).resolve()))

    def mount(self, mountpoint: Path) -> None:
        self._add("mount", str(Path(mountpoint).resolve()))

    def entries(self) -> list[tuple[str, str]]:
        if not self.file.exists():
            return []
        out = []
        for line in self.file.read_text().splitlines():
            kind, _, value = line.partition(" ")
            if value:
                out.append((kind, value))
        return out

    def reap(self, progress: Callable[[str], None] = lambda m: None) -> list[str]:
        """Stops everything recorded here: processes (their whole group, SIGTERM then SIGKILL), then the
        stacks (``Stack.down``), then the mounts still mounted. Returns what it stopped."""
        from .stack import Stack  # stack imports this module

        entries = self.entries()
        done: list[str] = []
        procs: list[tuple[int, int]] = []
        for kind, value in entries:
            if kind == "process":
                pid, ticks = (int(x) for x in value.split())
                # ticks 0: the process was gone before its start time could be read; its pid may be anyone's now.
                if ticks and same_process(pid, ticks):
                    procs.append((pid, ticks))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, started in procs:
                if same_process(pid, started):
                    _signal_group(pid, sig)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(same_process(p, s) for p, s in procs):
                time.sleep(0.05)
        done += [f"process {pid}" for pid, _ in procs]
        for kind, value in entries:
            if kind == "stack" and Path(value).exists():
                stopped = Stack(Path(value)).down()
                if stopped:
                    done.append(f"stack {value} ({', '.join(stopped)})")
        for kind, value in entries:
            if kind == "mount" and os.path.ismount(value):
                subprocess.run(["fusermount3", "-u", "-z", value], capture_output=True)
                if os.path.ismount(value):
                    subprocess.run(["umount", "-l", value], capture_output=True)
                done.append(f"mount {value}")
        for line in done:
            progress(line)
        return done


def _signal_group(pid: int, sig: int) -> None:
    """Signals the process group led by ``pid`` (how every recorded process is started), else the process alone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    except PermissionError:
        pass
