"""The local stack: `warpdrive stack up --infra-only` / `down` on free ports leaves no process behind."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from warpdrive.compose.stack import Stack, free_port, kafka_cluster_id


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{pid}: {cmd[:200]}")
    return found


def test_kafka_cluster_ids_are_16_random_bytes_never_read_as_an_option() -> None:
    ids = [kafka_cluster_id() for _ in range(2000)]  # the old code started 1 in 64 with '-'
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)


def test_a_stack_started_before_azurite_gets_a_port_for_it(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ports").write_text("1 2 3 4 5")  # what such a stack recorded
    st = Stack(tmp_path)
    assert (st.ports.kafka, st.ports.api, st.ports.azure) == (1, 5, 0)
    (tmp_path / "run" / "ports").write_text("1 2 3 4 5 6")
    assert Stack(tmp_path).ports.azure == 6


@pytest.mark.services
def test_stack_up_down_leaves_nothing_running() -> None:
    state = Path(f"/tmp/wds-{uuid.uuid4().hex[:6]}")
    exe = str(Path(sys.executable).with_name("warpdrive"))
    try:
        kafka = free_port()
        up = subprocess.run(
            [
                exe,
                "stack",
                "up",
                "--infra-only",
                "--state-dir",
                str(state),
                "--kafka-port",
                str(kafka),
                "--api-port",
                str(free_port()),
                "--s3-port",
                str(free_port()),
                "--gcs-port",
                str(free_port()),
                "--azure-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            st = Stack(state)
            status = st.status()
            assert all(status[n]["running"] for n in ("postgres", "kafka", "s3", "gcs", "azure")), status
            assert (state / "warpdrive.toml").is_file()
            again = subprocess.run(
                [exe, "stack", "up", "--infra-only", "--state-dir", str(state)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert again.returncode == 0, again.stderr
            assert st.status()["kafka"]["pid"] == status["kafka"]["pid"], "up must leave a healthy service alone"
        finally:
            down = subprocess.run(
                [exe, "stack", "down", "--state-dir", str(state)], capture_output=True, text=True, timeout=120
            )
        assert down.returncode == 0, down.stderr
        assert "kafka" in down.stdout and "postgres" in down.stdout and "azure" in down.stdout
        assert processes_mentioning(str(state)) == []
        st = subprocess.run([exe, "stack", "status", "--state-dir", str(state)], capture_output=True, text=True)
        assert st.returncode == 1 and "stopped" in st.stdout
    finally:
        shutil.rmtree(state, ignore_errors=True)  # data and logs: tens of MB per run
