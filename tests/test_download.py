"""The download path, for real: a tarball this test builds (Speech Commands layout), served by
http.server on 127.0.0.1 in a thread, fetched by `harness data prepare` and load_splits."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, make_speech_commands

from harness.cli import main
from harness.data import load_splits
from harness.data.download import URL_ENV, archive_url, download
from harness.data.speech_commands import WORDS_V001
from harness.data.tasks import KWS12_LABELS


class Server:
    """Serves `body` at every path; `declared` overrides Content-Length (a short send)."""

    def __init__(self) -> None:
        self.body, self.declared, self.paths = b"", None, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(server.declared or len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def serve(self, body: bytes, declared: int | None = None) -> str:
        self.body, self.declared = body, declared
        return hashlib.sha256(body).hexdigest()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _tarball(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """`folder` as TF's archives are: gzipped tar, members "./WORD/FILE" (no top folder)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=f"./{path.relative_to(folder).as_posix()}", recursive=False)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def v001_tarball(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """All 30 words of v0.01, 5 speakers x 1 clip (list files and noise included)."""
    folder = tmp_path_factory.mktemp("src") / "sc"
    return _tarball(make_speech_commands(folder, words=WORDS_V001, speakers=5,
                                         clips_per_speaker=1))


def _test_set_tarball(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(2)
    folder = tmp_path / "test_set"
    for label in KWS12_LABELS:
        (folder / label).mkdir(parents=True)
        sf.write(folder / label / "a_nohash_0.wav", 0.1 * rng.standard_normal(SR), SR)
    return _tarball(folder)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _left(data_dir: Path) -> list[str]:
    folder = data_dir / "SpeechCommands"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_prepare_downloads_checks_and_extracts(server: Server, v001_tarball: bytes,
                                               harness_data_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    digest = server.serve(v001_tarball)
    url = f"{server.base}mirror/speech_commands_v0.01.tar.gz"
    code, err = _run(["data", "prepare", "speech_commands_v0.01", "--url", url,
                      "--sha256", digest], capsys)
    assert code == 0, err
    folder = harness_data_dir / "SpeechCommands" / "speech_commands_v0.01"
    assert (folder / ".complete").is_file() and "150 clips, 30 labels" in err
    assert _left(harness_data_dir) == ["speech_commands_v0.01"]  # no temporary folder left
    # the test tarball from a base URL (the environment variable's form): no published
    # digest for v0.01's, so its length is checked; then kws12 tests on it
    server.serve(_test_set_tarball(tmp_path))
    code, err = _run(["data", "prepare", "speech_commands_test_set_v0.01", "--url",
                      server.base], capsys)
    assert code == 0, err
    assert server.paths[-1] == "/speech_commands_test_set_v0.01.tar.gz"
    data = load_splits("speech_commands_v0.01", task="kws12")
    assert data.test_set == "speech_commands_test_set_v0.01" and len(data.test.labels) == 12
    assert len(server.paths) == 2  # both were kept: nothing downloaded again


def test_published_checksum_guards_a_mirror(server: Server, v001_tarball: bytes,
                                            harness_data_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server.serve(v001_tarball)
    monkeypatch.setenv(URL_ENV, server.base)
    assert archive_url("speech_commands_v0.02") == f"{server.base}speech_commands_v0.02.tar.gz"
    with pytest.raises(Exception, match=r"SHA-256 [0-9a-f]{64} is not the expected 7439") as e:
        load_splits("speech_commands_v0.01")
    assert "\n" not in str(e.value) and "nothing was kept" in str(e.value)
    assert _left(harness_data_dir) == []


@pytest.mark.parametrize("how", ["short_send", "cut_tarball"])
def test_truncated_download_fails_in_one_line_and_leaves_nothing(
        how: str, server: Server, v001_tarball: bytes, harness_data_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cut = v001_tarball[:len(v001_tarball) * 2 // 3]
    # short_send: Content-Length says the whole archive, 2/3 of it arrive;
    # cut_tarball: a complete response of a cut archive (its own digest, so tar must notice)
    digest = server.serve(cut, declared=len(v001_tarball) if how == "short_send" else None)
    code, err = _run(["data", "prepare", "speech_commands_v0.01", "--url", server.base,
                      "--sha256", digest], capsys)
    assert code == 2 and err.startswith("error: download of speech_commands_v0.01 from http")
    assert err.count("\n") == 1 and "nothing was kept" in err
    if how == "short_send":
        assert f"truncated: {len(cut):,} of {len(v001_tarball):,} bytes arrived" in err
    assert _left(harness_data_dir) == []


def test_unsafe_member_and_unreachable_server(server: Server, harness_data_dir: Path,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok").mkdir()
    server.serve(_tarball(tmp_path / "ok", {"../escaped.wav": b"x"}))
    code, err = _run(["data", "prepare", "speech_commands_test_set_v0.02", "--url", server.base,
                      "--sha256", "skip"], capsys)
    assert code == 2 and "outside the destination" in err and err.count("\n") == 1
    assert not (harness_data_dir / "escaped.wav").exists() and _left(harness_data_dir) == []
    url = "http://127.0.0.1:9/speech_commands_v0.02.tar.gz"  # the discard port: refused
    code, err = _run(["data", "prepare", "speech_commands_v0.02", "--url", url], capsys)
    assert code == 2 and "--root PATH" in err and "synth_commands" in err


def test_a_folder_not_installed_here_is_never_deleted(harness_data_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """A folder extracted by hand (or by the torchaudio-based download) is never deleted:
    trusted when it holds the list files, else refused with the fix."""
    folder = harness_data_dir / "SpeechCommands" / "speech_commands_v0.02"
    (folder / "yes").mkdir(parents=True)
    code, err = _run(["data", "prepare", "speech_commands_v0.02", "--url",
                      "http://127.0.0.1:9/"], capsys)
    assert code == 2 and "was not installed by the harness" in err and "touch" in err
    assert (folder / "yes").is_dir()
    for name in ("validation_list.txt", "testing_list.txt"):
        (folder / name).write_text("")
    assert download("speech_commands_v0.02", harness_data_dir, "http://127.0.0.1:9/") == folder
    assert (folder / ".complete").is_file()
