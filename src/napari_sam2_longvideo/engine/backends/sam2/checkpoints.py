"""SAM2 checkpoints: which file a model name means, where it comes from, and fetching it once.

Meta publishes the checkpoints at fixed addresses (sam2's ``checkpoints/download_ckpts.sh``). A download
goes to ``<name>.part`` beside its final place, is checked against the expected size (the server's
Content-Length where no size is recorded here) and SHA-256 (where recorded), and only then renamed: a
half file never sits under the final name. The SHA-256 of the file used is written to ``run.json``.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ....errors import UserInputError

OFFICIAL_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2"
RELEASE_FOLDERS = {"2.1": "092824", "2.0": "072824"}  # from sam2's checkpoints/download_ckpts.sh
CONFIG_SUFFIX = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}
BLOCK = 1 << 20

# (size in bytes, SHA-256) of Meta's official files, keyed by (version, size). Nothing here is computed by
# this project (there is no network where it is built); every value is copied from public sources:
# - SHA-256, all eight: micro-sam, computational-cell-analytics/micro-sam, micro_sam/v2/util.py (HASHES,
#   which pooch verifies on every download), commit 4f6cca85a2e9ca9e25ec4df0eab4e239f9a48fcc; each also
#   pinned, identically, by other public projects' download scripts and model registries.
# - sizes: the byte counts that public projects record beside the same SHA-256 when they verify their
#   downloads, pinned only where at least two independent ones agree. One record each was found for
#   2.0 tiny, 2.0 base_plus and 2.1 small, so their size is left out (None): the SHA-256 still decides,
#   and the size is then taken from the server's Content-Length.
OFFICIAL_FILES: dict[tuple[str, str], tuple[int | None, str]] = {
    ("2.0", "tiny"): (None, "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125"),
    ("2.0", "small"): (184_309_650, "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3"),
    ("2.0", "base_plus"): (None, "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071"),
    ("2.0", "large"): (897_952_466, "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b"),
    ("2.1", "tiny"): (156_008_466, "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69"),
    ("2.1", "small"): (None, "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38"),
    ("2.1", "base_plus"): (323_606_802, "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5"),
    ("2.1", "large"): (898_083_611, "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318"),
}
# A PyTorch file is a zip archive (torch.save since 1.6) or, in the legacy format, a pickle.
ZIP_MAGIC, PICKLE_MAGIC = b"PK\x03\x04", b"\x80"


@dataclass(frozen=True)
class ModelSpec:
    """One SAM2 model: its hydra config inside the ``sam2`` package and its official checkpoint.

    ``size_bytes`` and ``sha256`` are Meta's published values (`OFFICIAL_FILES`); where no trustworthy
    value is known they are None, and the download is checked against the server's Content-Length.
    """

    name: str
    version: str
    config: str
    url: str
    filename: str
    size_bytes: int | None = None
    sha256: str | None = None


def model_spec(size: str, version: str = "2.1", base_url: str | None = None) -> ModelSpec:
    """The `ModelSpec` of SAM ``version`` at ``size`` (``tiny``, ``small``, ``base_plus``, ``large``)."""
    if size not in CONFIG_SUFFIX:
        raise UserInputError(f"Unknown model {size!r}; choose one of {', '.join(CONFIG_SUFFIX)}.")
    if version not in RELEASE_FOLDERS:
        raise UserInputError(f"Unknown SAM version {version!r}; choose one of {', '.join(RELEASE_FOLDERS)}.")
    stem = "sam2.1" if version == "2.1" else "sam2"
    filename = f"{stem}_hiera_{size}.pt"
    base = (base_url or os.environ.get("SAM2_LONGVIDEO_BASE_URL") or OFFICIAL_BASE_URL).rstrip("/")
    size_bytes, sha256 = OFFICIAL_FILES[version, size]
    return ModelSpec(
        name=size,
        version=version,
        config=f"configs/{stem}/{stem}_hiera_{CONFIG_SUFFIX[size]}.yaml",
        url=f"{base}/{RELEASE_FOLDERS[version]}/{filename}",
        filename=filename,
        size_bytes=size_bytes,
        sha256=sha256,
    )


def cache_dir() -> Path:
    """``$SAM2_LONGVIDEO_CACHE``, else ``$XDG_CACHE_HOME/napari-sam2-longvideo`` (``~/.cache`` by default)."""
    if os.environ.get("SAM2_LONGVIDEO_CACHE"):
        return Path(os.environ["SAM2_LONGVIDEO_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-sam2-longvideo"


def resolve_checkpoint(spec: ModelSpec, checkpoint=None, *, cache: Path | None = None, progress=None) -> Path:
    """The checkpoint file to load: the user's, the cached one, or a fresh download into the cache."""
    if checkpoint:
        return check_checkpoint_file(spec, checkpoint)
    target = (cache or cache_dir()) / spec.version / spec.filename
    if target.is_file() and (spec.size_bytes is None or target.stat().st_size == spec.size_bytes):
        return target
    download(spec.url, target, size_bytes=spec.size_bytes, sha256=spec.sha256, progress=progress)
    return target


def check_checkpoint_file(spec: ModelSpec, checkpoint) -> Path:
    """The user's ``--checkpoint``, refused at once if it is missing or plainly not a PyTorch file.

    Any PyTorch file is accepted here, fine-tuned or not: its SHA-256 is recorded in ``run.json``, and
    whether it fits the model is found when it is loaded.
    """
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise UserInputError(
            f"Checkpoint {path} does not exist. Give the path of a SAM2 checkpoint file "
            f"(for --model {spec.name}: {spec.filename}), or leave --checkpoint out to download it."
        )
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(ZIP_MAGIC))
    except OSError as error:
        raise UserInputError(f"Cannot read checkpoint {path}: {error.strerror or error}.") from error
    if not (start.startswith(ZIP_MAGIC) or start.startswith(PICKLE_MAGIC)):
        raise UserInputError(
            f"Checkpoint {path} is not a PyTorch checkpoint SAM2 can read: it is damaged, incomplete, or "
            f"another kind of file. Download {spec.filename} again or pass the right file with --checkpoint."
        )
    return path


def download(url: str, dest: Path, *, size_bytes=None, sha256=None, progress=None, timeout: float = 30) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``, verified before it is renamed into place."""
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(f"Cannot create the weights cache {dest.parent}: {error.strerror or error}.") from error
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as handle:
            announced = response.headers.get("Content-Length")
            total = size_bytes or (int(announced) if announced else None)
            done = 0
            while block := response.read(BLOCK):
                handle.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        else:
            reason = getattr(error, "reason", None) or error
        raise UserInputError(
            f"Could not download the SAM2 weights from {url} ({reason}). If this machine is offline, "
            f"download {dest.name} elsewhere (from {url}) and pass it with --checkpoint PATH."
        ) from error
    problem = None
    if total is not None and done != total:
        problem = f"it has {done} bytes, {total} were expected"
    elif sha256 and digest.hexdigest() != sha256:
        problem = f"its SHA-256 is {digest.hexdigest()}, {sha256} was expected"
    if problem:
        partial.unlink(missing_ok=True)
        raise UserInputError(
            f"The download of {url} is damaged ({problem}); the file was removed. Try again, or download "
            f"{dest.name} elsewhere and pass it with --checkpoint PATH."
        )
    os.replace(partial, dest)
    return dest


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
