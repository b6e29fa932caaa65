"""napari readers: videos, frame folders and TIFF stacks open lazily; a run folder opens as Labels."""

from __future__ import annotations

from pathlib import Path

from ..io.frames import IMAGE_SUFFIXES, TIFF_SUFFIXES, VIDEO_SUFFIXES, open_frames
from ..io.store import INDEX_NAME, LabelStore
from ._colors import animal_colormap


def get_reader(path):
    """Return a reader for ``path``, or None when it is not something this plugin opens."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = Path(path)
    if path.is_dir():
        if (path / "store" / INDEX_NAME).is_file():
            return read_run_folder
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            return read_frames
        return None
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in TIFF_SUFFIXES:
        return read_frames
    return None


def read_frames(path):
    """The video as a lazy RGB Image layer: frames are decoded when napari shows them."""
    path = Path(path[0] if isinstance(path, list) else path)
    frames = open_frames(path)
    return [(frames, {"name": path.stem, "rgb": True, "contrast_limits": [0, 255],
                      "metadata": {"source": str(path), **frames.info}}, "image")]


def read_run_folder(path):
    """A finished (or partly finished) run: its labels, lazily, chunk by chunk."""
    path = Path(path[0] if isinstance(path, list) else path)
    store = LabelStore.open(path / "store")
    return [(store, labels_layer_kwargs(path.name, path), "labels")]


def labels_layer_kwargs(name: str, run_folder) -> dict:
    return {"name": name, "colormap": animal_colormap(), "opacity": 0.6,
            "metadata": {"run_folder": str(run_folder)}}
