"""napari readers: videos, frame folders and TIFF stacks open lazily; a run folder opens as Labels.

``get_*_reader`` decide from the path alone (suffix, folder content, a TIFF's header) and return None
for anything else, never raising: napari asks every plugin that claims a suffix, and a reader that
raises there breaks opening the file with the others.
"""

from __future__ import annotations

import os
from pathlib import Path

import napari
import tifffile

from ..errors import UserInputError
from ..io.frames import IMAGE_SUFFIXES, TIFF_SUFFIXES, VIDEO_SUFFIXES, open_frames
from ..io.prompts import Prompts
from ..io.run_folder import STORE_DIR, RunFolder
from ..io.store import INDEX_NAME, LabelStore
from ._colors import animal_colormap
from ._prompts_layer import AXIS_LABELS, prompts_layer_data


def get_video_reader(path):
    """`read_video` for a video file, a folder of frames or a multi-page TIFF; otherwise None."""
    path = _single_path(path)
    if path is None:
        return None
    try:
        if path.is_dir():
            return read_video if not is_run_folder(path) and _holds_frames(path) else None
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES and path.is_file():
            return read_video
        if suffix in TIFF_SUFFIXES and _is_tiff_stack(path):
            return read_video
    except OSError:  # unreadable folder or file: not ours to report
        return None
    return None


def get_run_reader(path):
    """`read_run_folder` for a tracking run's output folder; otherwise None."""
    path = _single_path(path)
    return read_run_folder if path is not None and is_run_folder(path) else None


def read_video(path) -> list[tuple]:
    """The video as a lazy RGB Image layer: napari decodes a frame only when it shows it."""
    path = _single_path(path)
    return [video_layer_data(open_frames(path), path.stem if path.is_file() else path.name, str(path))]


def video_layer_data(frames, name: str, source: str | None) -> tuple:
    """Layer data tuple of a `FrameSource`; ``source`` is the path the tracking worker opens again.

    The viewer shows its frame 0 once the layer is added (napari would show the middle frame, and the
    first clicks would land there).
    """
    when_added(frames, lambda viewer, _layer: viewer.dims.set_current_step(0, 0))
    metadata = {"video": source, "video_info": frames.info}
    # contrast limits given, so napari never scans the video to find them
    kwargs = {"name": name, "rgb": True, "contrast_limits": (0, 255), "axis_labels": AXIS_LABELS,
              "metadata": metadata}
    return frames, kwargs, "image"


def read_run_folder(path) -> list[tuple]:
    """A finished or stopped run: its ``labels.zarr``, read a block of frames at a time as napari shows
    them (a run of 100k frames opens at once), and its prompts.

    With the prompts back in a layer, Track with this folder as output resumes a stopped run (a run
    resumes only with the prompts it started with).
    """
    path = _single_path(path)
    store = LabelStore.open(path, read_only=True)  # a run of an earlier version: a message what to do
    labels = store.labels
    layers = [(labels, labels_layer_kwargs(f"{path.name} labels", path), "labels")]
    rows = _prompt_rows(path)
    first_frame = min((row[0] for row in rows), default=0)
    when_added(labels, lambda viewer, _layer: viewer.dims.set_current_step(0, first_frame))
    if rows:
        data = prompts_layer_data(Prompts(rows, source=str(path)), f"{path.name} prompts", store.shape[1:])
        when_added(data[0], _ready_to_click)
        layers.append(data)
    return layers


def when_added(data, callback) -> None:
    """Call ``callback(viewer, layer)`` once the current viewer adds a layer holding ``data``.

    A reader returns layer data, not layers: what napari does on adding a layer (show the middle
    frame, pan/zoom mode) can only be changed afterwards. Without a viewer (a script), nothing is done.
    """
    viewer = napari.current_viewer()
    if viewer is None:
        return

    def on_inserted(event) -> None:
        if event.value.data is data:
            viewer.layers.events.inserted.disconnect(on_inserted)
            callback(viewer, event.value)

    viewer.layers.events.inserted.connect(on_inserted)


def _ready_to_click(viewer, layer) -> None:
    """A reopened run's prompts: selected and in add mode, so the next click adds a prompt."""
    viewer.layers.selection.active = layer
    layer.mode = "add"


def labels_layer_kwargs(name: str, run_folder) -> dict:
    """Keyword arguments of a results Labels layer: animal colours, the run folder in metadata."""
    return {"name": name, "colormap": animal_colormap(), "opacity": 0.6, "axis_labels": AXIS_LABELS,
            "metadata": {"run_folder": str(run_folder)}}


def is_run_folder(path: Path) -> bool:
    """A folder holding ``store/index.json``, as every run writes before its first chunk (or the
    ``store/store.json`` of an earlier version, which `read_run_folder` refuses with what to do)."""
    try:
        return (path / STORE_DIR / INDEX_NAME).is_file() or (path / STORE_DIR / "store.json").is_file()
    except OSError:  # a folder we may not look into is not ours to open
        return False


def _prompt_rows(run_folder: Path) -> list[tuple]:
    """The prompts ``run.json`` records, or none where it is missing or unreadable (the labels still open)."""
    try:
        metadata = RunFolder(run_folder).read_metadata() or {}
    except UserInputError:
        return []
    return [tuple(row) for row in metadata.get("prompts", {}).get("rows", [])]


def _single_path(path) -> Path | None:
    """napari passes a path or a list of paths (a stack); this plugin reads one path at a time."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return Path(path) if isinstance(path, (str, os.PathLike)) else None


def _holds_frames(folder: Path) -> bool:
    # stop at the first image: a camera folder may hold a million frames
    return any(
        entry.is_file() and not entry.name.startswith(".") and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
        for entry in os.scandir(folder)
    )


def _is_tiff_stack(path: Path) -> bool:
    """More than one frame along the TIFF's first series (a single image is left to other readers)."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            frame_axes = 3 if series.axes.endswith(("YXS", "SYX")) else 2
            return len(series.shape) > frame_axes and series.shape[0] > 1
    except Exception:  # noqa: BLE001 - tifffile raises many types for files it cannot parse
        return False
