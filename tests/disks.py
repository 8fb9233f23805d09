"""Small real file systems for the full-disk tests: a tmpfs of a given size (and number of
file entries) mounted in a test's folder, grown again to stand for "space freed".

    with tmpfs(tmp_path / "disk", "1m") as disk:     # pytest.skip where mounting is refused
        ...
        grow(disk, "16m")                             # the same files, more room
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def _options(size: str, inodes: int | None) -> str:
    return f"size={size}" + (f",nr_inodes={inodes}" if inodes else "")


@contextmanager
def tmpfs(path: Path, size: str, inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of `size` (mount's units: 512k, 16m) at `path`, unmounted afterwards; the test
    is skipped, with the reason, where this process may not mount (not root, no
    CAP_SYS_ADMIN, no `mount`)."""
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: the full-disk tests mount a small tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    out = _mount("-t", "tmpfs", "-o", _options(size, inodes), "tmpfs", str(path))
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip() or out.returncode}): the "
                    "full-disk tests need root or CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


def grow(path: Path, size: str, inodes: int | None = None) -> None:
    """Give the tmpfs at `path` more room, keeping its files: the user freeing space."""
    out = _mount("-o", f"remount,{_options(size, inodes)}", str(path))
    assert out.returncode == 0, out.stderr
