"""Two runs on one machine: reaping one run stops exactly what it recorded — never another run's stack,
process or mount, even one whose name looks like ours (the old clean-up swept by pattern)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from warpdrive.compose.ledger import ENV, Ledger, same_process, start_time
from warpdrive.compose.stack import Ports, Stack, port_open

from tests.helpers import Procs, remove_stack, wait_until

WARPDRIVE = str(Path(sys.executable).with_name("warpdrive"))


def sleeper(name_hint: str) -> subprocess.Popen:
    """A process in its own session whose command line carries ``name_hint`` (as our state dirs do)."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time, sys; time.sleep(600)", name_hint],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def two_ledgers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, Ledger]]:
    a, b = Ledger(tmp_path / "run-a"), Ledger(tmp_path / "run-b")
    yield a, b
    a.reap()
    b.reap()


def test_reaping_one_run_leaves_another_runs_processes_alone(two_ledgers: tuple[Ledger, Ledger]) -> None:
    a, b = two_ledgers
    # Both look like a test state dir to a pattern (the old sweep's /tmp/wd[a-z]*-[0-9a-f]+ matched both).
    pa, pb = sleeper(f"/tmp/wdk-{uuid.uuid4().hex[:8]}"), sleeper(f"/tmp/wdk-{uuid.uuid4().hex[:8]}")
    try:
        a.process(pa.pid)
        b.process(pb.pid)
        assert a.reap() == [f"process {pa.pid}"]
        assert pa.wait(10) is not None
        assert pb.poll() is None, "reaping run A stopped run B's process"
        assert b.reap() == [f"process {pb.pid}"]
        assert pb.wait(10) is not None
    finally:
        for p in (pa, pb):
            p.kill()
            p.wait()


def test_a_recorded_pid_now_used_by_another_process_is_not_signalled(tmp_path: Path) -> None:
    p = sleeper("innocent")
    try:
        ledger = Ledger(tmp_path / "run")
        started = start_time(p.pid)
        assert started is not None and same_process(p.pid, started)
        # As if the recorded process had exited and the kernel had handed its pid to this one since.
        ledger._add("process", f"{p.pid} {started - 1}")
        assert ledger.reap() == []
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def test_procs_started_by_a_test_are_recorded_in_the_runs_ledger(tmp_path: Path) -> None:
    ledger = Ledger(Path(os.environ[ENV]))  # conftest gives every session a ledger
    procs = Procs(tmp_path / "none.toml", tmp_path)
    p = procs.start("help", "--help")
    try:
        assert any(k == "process" and v.split()[0] == str(p.pid) for k, v in ledger.entries()), ledger.entries()
    finally:
        procs.stop_all()


@pytest.mark.services
def test_reaping_one_run_leaves_another_runs_stack_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two private stacks (one S3 server each: the cheapest service), each started under its own run's
    ledger; `warpdrive stack reap` of run A stops A's and leaves B's serving."""
    stacks: list[Stack] = []
    try:
        for run in ("a", "b"):
            monkeypatch.setenv(ENV, str(tmp_path / f"run-{run}"))
            st = Stack(Path(f"/tmp/wdk-{uuid.uuid4().hex[:8]}"), Ports.free())
            stacks.append(st)
            st.infra_up(("s3",))
        sa, sb = stacks
        r = subprocess.run(
            [WARPDRIVE, "stack", "reap", "--ledger", str(tmp_path / "run-a")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert str(sa.state_dir) in r.stdout and str(sb.state_dir) not in r.stdout, r.stdout
        assert sa.pid("s3") is None and not port_open(sa.ports.s3)
        assert sb.pid("s3") is not None and port_open(sb.ports.s3), "run B's S3 server was stopped"
    finally:
        for st in stacks:
            remove_stack(st)


@pytest.mark.fuse
def test_reaping_one_run_unmounts_only_its_own_mount(tmp_path: Path) -> None:
    """Two agents mounted under two runs' ledgers (their dirs look alike, as every test mount in /tmp does):
    reaping run A unmounts A's and leaves B's mounted and answering."""
    mounts: list[tuple[subprocess.Popen, Path]] = []
    try:
        for run in ("a", "b"):
            ledger = Ledger(tmp_path / f"run-{run}")
            mnt = Path(f"/tmp/wda-{uuid.uuid4().hex[:8]}")
            mnt.mkdir()
            local = tmp_path / f"data-{run}"
            local.mkdir()
            (local / "hello.txt").write_text(run)
            cfg = tmp_path / f"{run}.toml"
            cfg.write_text(
                f'state_dir = "{tmp_path / ("state-" + run)}"\n[kafka]\nbootstrap_servers = "127.0.0.1:1"\n'
                f'[agent]\nnode_name = "ledger-{run}"\ntelemetry_sink = "file"\n'
                f'telemetry_file = "{tmp_path / (run + ".jsonl")}"\n'
                f'[[backends]]\nname = "local"\nurl = "file://{local}"\n'
            )
            ledger.mount(mnt)
            p = subprocess.Popen(
                [WARPDRIVE, "agent", "mount", str(mnt), "--config", str(cfg)],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=open(tmp_path / f"{run}.log", "wb"),
                stderr=subprocess.STDOUT,
            )
            ledger.process(p.pid)
            mounts.append((p, mnt))
            wait_until(
                lambda: os.path.ismount(mnt) or p.poll() is not None,
                30,
                what=f"mount {run}",
                explain=lambda: (tmp_path / f"{run}.log").read_text(),
            )
            assert os.path.ismount(mnt), (tmp_path / f"{run}.log").read_text()
        (pa, ma), (pb, mb) = mounts
        Ledger(tmp_path / "run-a").reap()
        assert pa.wait(20) is not None and not os.path.ismount(ma)
        assert pb.poll() is None and os.path.ismount(mb), "run B's mount was unmounted"
        assert (mb / "local" / "hello.txt").read_text() == "b"
    finally:
        for p, mnt in mounts:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
            mnt.rmdir()
