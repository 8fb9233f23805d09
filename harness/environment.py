"""The torch / torchaudio pair: load torchaudio's compiled extension or say which pair is wrong.

torchaudio ships a C++ extension built against one torch ABI; beside another torch it fails
at import with an `undefined symbol` OSError deep inside torch. `require_torchaudio()` turns
that into one line naming both versions and the fix. uv.lock pins the pair that loads.
"""

from __future__ import annotations

import importlib.metadata
from types import ModuleType

from harness.errors import HarnessError


def installed(dist: str) -> str:
    """The installed distribution's version, read without importing it ("absent" if missing)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def require_torchaudio() -> ModuleType:
    """Import torchaudio with its compiled extension loaded; HarnessError if the pair is broken."""
    try:
        import torchaudio
        from torchaudio._extension import _IS_TORCHAUDIO_EXT_AVAILABLE
    except (OSError, ImportError) as exc:
        raise HarnessError(
            f"torchaudio {installed('torchaudio')} does not load beside torch "
            f"{installed('torch')} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            "install the locked pair with `uv sync --locked` (the nox sessions do), "
            "or `pip install torch==2.11.0 torchaudio==2.11.0`") from None
    if not _IS_TORCHAUDIO_EXT_AVAILABLE:
        raise HarnessError(
            f"torchaudio {installed('torchaudio')} imported without its compiled extension "
            f"beside torch {installed('torch')}; reinstall the locked pair (`uv sync --locked`)")
    return torchaudio
