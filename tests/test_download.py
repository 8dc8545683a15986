"""Downloads against a local HTTP server: verification, resume after a dropped connection, and the mirror."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from morphalign.download import fetch, mirror_dirs
from morphalign.errors import MorphalignError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Server:
    """Serves PAYLOAD at /file.bin; can drop the first response midway and can ignore Range."""

    def __init__(self, drop_after: int | None = None, ranges: bool = True) -> None:
        self.requests: list[str | None] = []
        self.drop_after, self.ranges = drop_after, ranges
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng and outer.ranges else 0
                body = PAYLOAD[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drop_after is not None:
                    self.wfile.write(body[: outer.drop_after])
                    outer.drop_after = None
                    self.wfile.flush()
                    self.connection.shutdown(2)  # a dropped connection mid-transfer
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.bin"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(**kw):
        servers.append(_Server(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_download_and_verify(server, tmp_path):
    s = server()
    path = fetch(s.url, tmp_path, md5=MD5, progress=False)
    assert path.read_bytes() == PAYLOAD and path.name == "file.bin"
    assert fetch(s.url, tmp_path, md5=MD5, progress=False) == path
    assert len(s.requests) == 1  # a verified copy is not fetched again


def test_resume_after_dropped_connection(server, tmp_path):
    s = server(drop_after=300_000)
    with pytest.raises(MorphalignError, match="rerun to resume"):
        fetch(s.url, tmp_path, md5=MD5, progress=False)
    assert (tmp_path / "file.bin.part").stat().st_size == 300_000
    assert not (tmp_path / "file.bin").exists()
    path = fetch(s.url, tmp_path, md5=MD5, progress=False)
    assert s.requests == [None, "bytes=300000-"]
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "file.bin.part").exists()


def test_restart_when_server_ignores_range(server, tmp_path):
    s = server(drop_after=100_000, ranges=False)
    with pytest.raises(MorphalignError):
        fetch(s.url, tmp_path, md5=MD5, progress=False)
    assert fetch(s.url, tmp_path, md5=MD5, progress=False).read_bytes() == PAYLOAD


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    s = server()
    with pytest.raises(MorphalignError, match=r"file.bin.part: md5 checksum mismatch"):
        fetch(s.url, tmp_path, md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_mirror_is_used_without_downloading(server, tmp_path, monkeypatch):
    s = server()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "file.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("MORPHALIGN_DATA_MIRROR", f"{tmp_path / 'empty'}:{mirror}")
    path = fetch(s.url, tmp_path / "dl", md5=MD5, mirrors=mirror_dirs(), progress=False)
    assert path == mirror / "file.bin" and s.requests == []

    # a corrupt copy in the first mirror is skipped, with a warning, for the good copy in the next
    first = tmp_path / "first"
    first.mkdir()
    (first / "file.bin").write_bytes(PAYLOAD[:-1])
    monkeypatch.setenv("MORPHALIGN_DATA_MIRROR", f"{first}:{mirror}")
    with pytest.warns(UserWarning, match=r"first/file\.bin: md5 checksum mismatch .* skipped"):
        path = fetch(s.url, tmp_path / "dl", md5=MD5, mirrors=mirror_dirs(), progress=False)
    assert path == mirror / "file.bin" and s.requests == []

    # no good copy anywhere and no network: the error lists where it looked and what it skipped
    (mirror / "file.bin").unlink()
    dead = "http://127.0.0.1:9/file.bin"  # the discard port: nothing listens
    with pytest.warns(UserWarning), pytest.raises(MorphalignError) as err:
        fetch(dead, tmp_path / "dl", md5=MD5, mirrors=mirror_dirs(), progress=False)
    message = str(err.value)
    assert "download failed" in message and f"mirror folder(s) ['{first}', '{mirror}']" in message
    assert f"in {tmp_path / 'dl'}" in message and f"corrupt copies skipped: ['{first / 'file.bin'}']" in message


def test_env_wins_over_config(monkeypatch, tmp_path):
    monkeypatch.delenv("MORPHALIGN_DATA_MIRROR", raising=False)
    assert mirror_dirs(str(tmp_path)) == [tmp_path]
    monkeypatch.setenv("MORPHALIGN_DATA_MIRROR", "/a:/b")
    assert [str(p) for p in mirror_dirs(str(tmp_path))] == ["/a", "/b"]
