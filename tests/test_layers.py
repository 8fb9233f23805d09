"""The layering contract (pyproject's [tool.importlinter], docs/architecture.md) holds, and
it would catch an upward import or a cycle: lint-imports on the tree, then on a copy with
one planted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, check=False)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not LINT.exists():
        pytest.skip(f"no lint-imports beside {sys.executable} (the dev extra installs it)")
    dest = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "harness", dest / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest)
    return dest


def test_the_tree_keeps_the_contract(copy: Path) -> None:
    out = lint(copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # data below sweep: a data module reaching up for the queue
    ("harness/data/staging.py", "from harness.sweep import queue", "import only downward BROKEN"),
    # the noise/synth cycle cut by the move, planted back as a type-only import
    ("harness/data/noise.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.data import synth",
     "even through others BROKEN"),
])
def test_a_planted_import_breaks_it(copy: Path, module: str, line: str, broken: str) -> None:
    path = copy / module
    original = path.read_text()
    path.write_text(original + "\n" + line + "  # planted by the test\n")
    try:
        out = lint(copy)
    finally:
        path.write_text(original)
    assert out.returncode == 1, out.stdout
    assert broken in out.stdout
