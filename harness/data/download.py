"""Archives: streamed download, checksum, safe extraction, atomic install.

    folder = download("speech_commands_v0.02", data_dir())    # data_dir/SpeechCommands/<name>
    folder = download("speech_commands_test_set_v0.02", data_dir(), url="http://mirror/")
    fetch(url, folder, "fsdd", into=".archive", then=convert)   # any .tar.gz, then a step

The archive is read from the network straight into tarfile's stream reader (no 2.4 GB
copy on disk), extracted into a hidden temporary folder beside the target and renamed
into place only after the byte count matches Content-Length and the SHA-256 matches the
published one: a killed, truncated or corrupt download leaves no folder that loads (the
temporary one is removed, or cleaned by the next attempt). The URL is `url`, else
$HARNESS_SPEECH_COMMANDS_URL, else TensorFlow's bucket; either may name the archive
itself (`.../x.tar.gz`) or a base folder the archive's file name is appended to.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rich.progress import Progress, TaskID

from harness.console import progress
from harness.data.staging import stale_temp, temp_name
from harness.errors import HarnessError

URL_ENV = "HARNESS_SPEECH_COMMANDS_URL"
# The bucket TF's speech_commands/train.py --data_url points at.
BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"
# Published SHA-256 digests: torchaudio's datasets/speechcommands.py _CHECKSUMS (the data
# sets) and tensorflow/datasets' url_checksums/speech_commands.txt (the v0.02 test set).
# v0.01's test set has no published digest: only its length is checked.
SHA256: dict[str, str | None] = {
    "speech_commands_v0.01": "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    "speech_commands_v0.02": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    "speech_commands_test_set_v0.01": None,
    "speech_commands_test_set_v0.02":
        "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
}
ARCHIVES = tuple(SHA256)
COMPLETE = ".complete"   # written into a folder as it is renamed into place
TEST_SET = "speech_commands_test_set_"
# what a folder extracted elsewhere must hold to be trusted: (data set, test set)
_LAST_WRITTEN = (("validation_list.txt", "testing_list.txt"), ("_silence_", "_unknown_"))
SKIP = "skip"            # sha256=SKIP: check the length only (a mirror of other bytes)
CHUNK = 1 << 20


def archive_url(name: str, url: str | None = None) -> str:
    """The archive's URL: `url`, $HARNESS_SPEECH_COMMANDS_URL or BASE_URL (a base or the file)."""
    base = url or os.environ.get(URL_ENV) or BASE_URL
    if base.endswith((".tar.gz", ".tgz")):
        return base
    return f"{base.rstrip('/')}/{name}.tar.gz"


def archive_folder(data_dir: Path, name: str) -> Path:
    """Where the Speech Commands archive `name` is extracted: data_dir/SpeechCommands/name."""
    return data_dir / "SpeechCommands" / name


def download(name: str, data_dir: Path, url: str | None = None,
             sha256: str | None = None) -> Path:
    """data_dir/SpeechCommands/`name`, downloaded and extracted unless already complete.

    `sha256`: the expected digest (default: the published one), or "skip". HarnessError
    with one line (the URL, what went wrong, the way out) on any failure; nothing is
    left at the target then.
    """
    if name not in SHA256:
        raise HarnessError(f"no archive {name!r} to download; known: {', '.join(ARCHIVES)}")
    folder = archive_folder(data_dir, name)
    if (folder / COMPLETE).is_file():
        return folder
    if folder.exists():  # not renamed in whole by us: extracted by hand or by torchaudio
        if all((folder / f).exists() for f in _LAST_WRITTEN[name.startswith(TEST_SET)]):
            (folder / COMPLETE).touch()  # trusted, as the torchaudio-based download did
            return folder
        raise HarnessError(f"{folder} exists but was not installed by the harness (no "
                           f"{COMPLETE}) and looks incomplete: if it is a complete extraction, "
                           f"`touch {folder / COMPLETE}`; if not, delete it and run again")
    expected = SHA256[name] if sha256 is None else (None if sha256 == SKIP else sha256.lower())
    fetch(archive_url(name, url), folder, name, expected=expected)
    return folder


_HINT = (f"nothing was kept. Retry, point --url or ${URL_ENV} at a mirror, or use --root PATH "
         f"with a folder in the Speech Commands layout (or the offline synth_commands)")


def fetch(source: str, folder: Path, name: str, *, expected: str | None = None,
          into: str = "", then: Callable[[Path], None] | None = None, hint: str = _HINT) -> None:
    """Stream the gzipped tar at `source` (any urllib URL: https, file) into `folder`.

    Extracted into a hidden folder beside `folder` (its subfolder `into` when given), the
    byte count and SHA-256 (`expected`; None: the count only) checked, then `then(tmp)`
    run on the hidden folder (to convert what was extracted), and only then renamed into
    place. HarnessError with one line naming `name`, `source`, what went wrong and `hint`;
    nothing is left at `folder` then.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(source, timeout=60) as response, progress() as bar:
            length = response.headers.get("Content-Length")
            reader = _Counted(response, int(length) if length else None, bar,
                              bar.add_task(f"downloading {name}", total=length and int(length)))

            def fill(tmp: Path) -> None:
                (tmp / into).mkdir(exist_ok=True)
                try:
                    _extract(reader, tmp / into)
                except (OSError, http.client.HTTPException, tarfile.TarError, EOFError,
                        zlib.error) as exc:
                    if reader.short:  # the stream ended early: say that, not how tar broke
                        raise HarnessError(f"truncated: {reader.seen:,} of {reader.length:,} "
                                           f"bytes arrived") from exc
                    if isinstance(exc, EOFError | tarfile.ReadError):  # all bytes came
                        raise HarnessError(f"the archive is truncated or corrupt "
                                           f"({type(exc).__name__}: {exc})") from exc
                    raise
                reader.check(expected)  # before the rename: a bad download is never installed
                if then is not None:
                    then(tmp)

            _install(folder, fill)
    except (HarnessError, OSError, urllib.error.URLError, http.client.HTTPException,
            tarfile.TarError, EOFError, zlib.error, ValueError) as exc:
        why = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        raise HarnessError(f"download of {name} from {source} failed ({why}); {hint}") from None


def extract_archive(archive: Path, folder: Path) -> Path:
    """Extract a local `.tar.gz` into `folder` (atomically, as download does); `folder`."""
    try:
        with open(archive, "rb") as f:
            _install(folder, lambda tmp: _extract(f, tmp))
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise HarnessError(f"{archive} could not be extracted ({type(exc).__name__}: {exc}); "
                           f"delete it and download it again") from None
    return folder


def _install(folder: Path, fill: Callable[[Path], None]) -> None:
    """Call fill(tmp) on a fresh hidden folder beside `folder`, then rename it to `folder`.

    Another process that installed the same folder first wins (its copy is kept);
    temporary folders that killed processes of this host left here are removed first.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    for old in folder.parent.glob(".tmp-*"):
        if stale_temp(old.name):
            shutil.rmtree(old, ignore_errors=True)
    tmp = folder.parent / temp_name()
    tmp.mkdir()
    try:
        fill(tmp)
        (tmp / COMPLETE).touch()
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(stream: IO[bytes], dest: Path) -> None:
    """Stream a gzipped tar into `dest`; tarfile's "data" filter refuses absolute paths,
    `..`, links out of `dest` and device files (PEP 706), so an archive writes only there."""
    if not hasattr(tarfile, "data_filter"):  # Python 3.11.0-3.11.3
        raise HarnessError("safe extraction needs tarfile's data filter: use Python >= 3.11.4")
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        tar.extractall(dest, filter="data")


class _Counted:
    """A read-only stream that hashes and counts what passes, advancing a progress bar."""

    def __init__(self, raw: IO[bytes], length: int | None, bar: Progress, task: TaskID) -> None:
        self.raw, self.length, self._bar, self._task = raw, length, bar, task
        self.seen = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.seen += len(data)
        self.digest.update(data)
        self._bar.update(self._task, completed=self.seen)
        return data

    @property
    def short(self) -> bool:
        """Did fewer bytes arrive than Content-Length announced (so far)?"""
        return self.length is not None and self.seen < self.length and not self.raw.read(1)

    def check(self, expected: str | None) -> None:
        """Read what tarfile left (trailer, padding); HarnessError on a short or bad stream."""
        while self.read(CHUNK):
            pass
        if self.length is not None and self.seen != self.length:
            raise HarnessError(f"{self.seen:,} bytes arrived, not the {self.length:,} announced")
        if expected is not None and self.digest.hexdigest() != expected:
            raise HarnessError(f"SHA-256 {self.digest.hexdigest()} is not the expected "
                               f"{expected} (a corrupt or different archive)")
