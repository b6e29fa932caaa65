"""Checkpoint names and downloads, against a loopback HTTP server that stands in for Meta's."""

import dataclasses
import datetime
import hashlib
import http.server
import socket
import threading
from importlib import resources

import pytest
import torch

from napari_sam2_longvideo.engine.backends.sam2.checkpoints import (
    cache_dir,
    model_spec,
    resolve_checkpoint,
    sha256_of,
)
from napari_sam2_longvideo.engine.backends.sam2.model import load_checkpoint
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


def fake_official(size="tiny", version="2.1", **expected):
    """``model_spec`` with the loopback server's address, and the fake file's size and hash as the
    published ones (unless given), since the server cannot serve Meta's real bytes."""
    return lambda url: dataclasses.replace(
        model_spec(size, version, base_url=url),
        **{"size_bytes": len(FAKE_WEIGHTS), "sha256": hashlib.sha256(FAKE_WEIGHTS).hexdigest(), **expected},
    )


def test_download_once_into_the_cache_with_progress(tmp_path, server):
    url, requests = server
    spec = fake_official()(url)
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
    spec = fake_official(**expectation)(url)
    with pytest.raises(UserInputError, match=message) as error:
        resolve_checkpoint(spec, cache=tmp_path / "cache")
    assert "the file was removed" in str(error.value)
    assert list((tmp_path / "cache" / "2.1").iterdir()) == []


def test_every_official_checkpoint_has_a_pinned_sha256():
    digests = set()
    for version in ("2.1", "2.0"):
        for size in ("tiny", "small", "base_plus", "large"):
            spec = model_spec(size, version)
            assert spec.sha256 is not None and len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, spec.filename
            assert spec.size_bytes is None or 100_000_000 < spec.size_bytes < 1_000_000_000, spec.filename
            digests.add(spec.sha256)
    assert len(digests) == 8
    assert model_spec("tiny", "2.1").size_bytes == 156_008_466


@pytest.mark.parametrize(
    "size, message",
    [
        # the pinned size (156,008,466 bytes) is checked first, whatever the server announces
        ("tiny", "it has 1024000 bytes, 156008466 were expected"),
        # no size is pinned for it, so the server's Content-Length passes and the pinned SHA-256 decides
        ("small", "its SHA-256 is .*, 6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38 was expected"),
    ],
)
def test_a_download_that_is_not_the_official_file_is_refused_and_removed(tmp_path, server, size, message):
    url, requests = server
    root = tmp_path / "www" / "092824"
    (root / f"sam2.1_hiera_{size}.pt").write_bytes(FAKE_WEIGHTS)  # right name and address, other bytes
    with pytest.raises(UserInputError, match=message) as error:
        resolve_checkpoint(model_spec(size, "2.1", base_url=url), cache=tmp_path / "cache")
    assert "the file was removed" in str(error.value) and requests == [f"/092824/sam2.1_hiera_{size}.pt"]
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
    torch.save({"model": {"w": torch.zeros(2)}}, real)  # a user's own (fine-tuned) file: any hash will do
    assert resolve_checkpoint(model_spec("tiny"), str(real)) == real


def test_an_explicit_checkpoint_that_is_plainly_no_pytorch_file_is_refused_before_loading(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not weights")
    with pytest.raises(UserInputError, match=r"Checkpoint .*junk.pt is not a PyTorch checkpoint SAM2 can read: it"):
        resolve_checkpoint(model_spec("tiny"), str(junk))


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"PK\x03\x04 a zip header, then nothing", "it is damaged, incomplete, or another kind of file"),
        ({"model": {}, "saved": datetime.date(2024, 9, 28)}, r"it holds Python objects \(datetime.date\)"),
    ],
)
def test_an_unreadable_checkpoint_gets_our_message_without_torchs_advice(tmp_path, content, reason):
    """torch's own message says to retry with weights_only=False, which would run the file's code."""
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(UserInputError, match=reason) as error:
        load_checkpoint(torch.nn.Linear(2, 2), path, model_spec("tiny"))
    text = str(error.value)
    assert text.startswith(f"Checkpoint {path} is not a PyTorch checkpoint SAM2 can read")
    assert "weights_only" not in text and "torch.load" not in text and "sam2.1_hiera_tiny.pt" in text


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM2_LONGVIDEO_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SAM2_LONGVIDEO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "napari-sam2-longvideo"
