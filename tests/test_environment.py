"""The locked torch / torchaudio pair loads, and a broken pair fails with one line naming both."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch

from harness.environment import installed, require_torchaudio


def test_torchaudio_extension_loads_and_runs_a_transform() -> None:
    torchaudio = require_torchaudio()
    from torchaudio._extension import _IS_TORCHAUDIO_EXT_AVAILABLE

    pair = f"torchaudio {installed('torchaudio')} beside torch {installed('torch')}"
    assert _IS_TORCHAUDIO_EXT_AVAILABLE, f"{pair}: the compiled extension did not load"
    wave = torch.sin(torch.arange(16_000) * 2 * torch.pi * 440 / 16_000)
    spec = torchaudio.transforms.Spectrogram(n_fft=512, win_length=480, hop_length=160)(wave)
    assert spec.shape == (257, 101)
    assert int(spec[:, 50].argmax()) == round(440 / (16_000 / 512))  # the tone's bin


def test_a_broken_pair_is_one_line_naming_both_versions(tmp_path) -> None:
    """A fake torchaudio whose extension raises the OSError a mismatched ABI raises."""
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(textwrap.dedent("""
        raise OSError("Could not load this library: .../libtorchaudio.so")
    """))
    code = ("from harness.environment import require_torchaudio\n"
            "from harness.errors import HarnessError\n"
            "try:\n    require_torchaudio()\nexcept HarnessError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=True)
    line = out.stdout.strip()
    assert "\n" not in line
    assert f"beside torch {installed('torch')}" in line
    assert line.startswith(f"torchaudio {installed('torchaudio')} does not load")
    assert "uv sync --locked" in line
