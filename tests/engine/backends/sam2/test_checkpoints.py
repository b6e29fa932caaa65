"""Checkpoint names and downloads, against a loopback HTTP server that stands in for Meta's."""

import dataclasses
import hashlib
import http.server
import socket
import threading
from importlib import resources

import pytest

from napari_sam2_longvideo.engine.backends.sam2.checkpoints import (
    cache_dir,
    model_spec,
    resolve_checkpoint,
    sha256_of,
)
from napari_sam2_longvideo.errors import UserInputError

FAKE_WEIGHTS = bytes(range(256)) * 4000  # 1 MB, more than one read block of the server


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/www`` on 127.0.0.1; ``requests`` lists the paths asked for."""
    root = tmp_path / "www"
    (root / "092824").mkdir(parents=True)
    (root / "092824" / "sam2.1_hiera_tiny.pt").write_bytes(FAKE_WEIGHTS)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_model_names_a_config_inside_sam2_and_an_official_address():
    for version in ("2.1", "2.0"):
        for size in ("tiny", "small", "base_plus", "large"):
            spec = model_spec(size, version)
            assert (resources.files("sam2") / spec.config).is_file(), spec.config
            assert spec.url.startswith("https://dl.fbaipublicfiles.com/segment_anything_2/")
            assert spec.url.endswith("/" + spec.filename)
    assert model_spec("base_plus", "2.1").filename == "sam2.1_hiera_base_plus.pt"
    assert model_spec("large", "2.0").url.endswith("/072824/sam2_hiera_large.pt")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UserInputError, match="Unknown model 'huge'; choose one of tiny, small, base_plus, large"):
        model_spec("huge")
    with pytest.raises(UserInputError, match="Unknown SAM version '3'"):
        model_spec("tiny", "3")


def test_download_once_into_the_cache_with_progress(tmp_path, server):
    url, requests = server
    spec = model_spec("tiny", base_url=url)
    seen = []
    path = resolve_checkpoint(spec, cache=tmp_path / "cache", progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "cache" / "2.1" / "sam2.1_hiera_tiny.pt"
    assert path.read_bytes() == FAKE_WEIGHTS
    assert seen[-1] == (len(FAKE_WEIGHTS), len(FAKE_WEIGHTS)) and len(seen) >= 1
    assert sha256_of(path) == hashlib.sha256(FAKE_WEIGHTS).hexdigest()

    again = resolve_checkpoint(spec, cache=tmp_path / "cache")
    assert again == path and requests == ["/092824/sam2.1_hiera_tiny.pt"]


@pytest.mark.parametrize(
    "expectation, message",
    [({"size_bytes": 123}, "it has 1024000 bytes, 123 were expected"), ({"sha256": "0" * 64}, "its SHA-256 is")],
)
def test_a_damaged_download_is_refused_and_removed(tmp_path, server, expectation, message):
    url, _ = server
    spec = dataclasses.replace(model_spec("tiny", base_url=url), **expectation)
    with pytest.raises(UserInputError, match=message) as error:
        resolve_checkpoint(spec, cache=tmp_path / "cache")
    assert "the file was removed" in str(error.value)
    assert list((tmp_path / "cache" / "2.1").iterdir()) == []


def test_a_missing_file_on_the_server(tmp_path, server):
    url, _ = server
    with pytest.raises(UserInputError, match="HTTP 404"):
        resolve_checkpoint(model_spec("small", base_url=url), cache=tmp_path / "cache")


def test_offline_says_to_pass_a_checkpoint(tmp_path):
    spec = model_spec("tiny", base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(UserInputError) as error:
        resolve_checkpoint(spec, cache=tmp_path / "cache")
    text = str(error.value)
    assert "Could not download the SAM2 weights" in text and "--checkpoint PATH" in text
    assert "sam2.1_hiera_tiny.pt" in text
    assert not (tmp_path / "cache" / "2.1" / "sam2.1_hiera_tiny.pt.part").exists()


def test_an_explicit_checkpoint_must_exist(tmp_path):
    with pytest.raises(UserInputError, match=r"Checkpoint .*nope.pt does not exist"):
        resolve_checkpoint(model_spec("tiny"), str(tmp_path / "nope.pt"))
    real = tmp_path / "mine.pt"
    real.write_bytes(b"x")
    assert resolve_checkpoint(model_spec("tiny"), str(real)) == real


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM2_LONGVIDEO_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SAM2_LONGVIDEO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "napari-sam2-longvideo"
