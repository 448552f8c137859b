"""Generated trees of small local files for the benchmarks, kept between runs (a marker beside the tree
records how many files it holds)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable


def generate(root: Path, n: int, per_dir: int, rel_dir: Callable[[int], str], size: Callable[[int], int]) -> None:
    """``n`` files under ``root``, ``per_dir`` per directory: group ``g`` of files goes in ``rel_dir(g)``
    and file ``j`` holds ``size(j)`` bytes. Reuses the tree when it was generated with the same ``n``."""
    marker = root.parent / f"{root.name}.generated-{n}"  # outside the tree: not one of its files
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for old in root.parent.glob(f"{root.name}.generated-*"):
        old.unlink()
    t0 = time.perf_counter()
    for i in range(0, n, per_dir):
        d = root / rel_dir(i // per_dir)
        d.mkdir(parents=True, exist_ok=True)
        for j in range(i, min(i + per_dir, n)):
            fd = os.open(d / f"f{j:07}.dat", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * size(j))
            os.close(fd)
    marker.touch()
    print(f"generated {n:,} files in {time.perf_counter() - t0:.0f}s")
