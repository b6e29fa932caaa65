"""What every export reads from a finished run folder: the per-frame table, the run's metadata, frame times.

Positions come from ``tracks.csv`` (what the user sees and checks), so every export holds the very
numbers of that table; frames where an animal is lost are NaN there and stay NaN in every export.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserInputError
from ..run_folder import RUN_FILE, TRACKS_FILE
from ..store import LabelStore

NODE = "centroid"  # the one body part (keypoint, node) every pose export holds
SOFTWARE = "napari-sam2-longvideo"


@dataclasses.dataclass(frozen=True)
class RunData:
    """A finished run, as arrays the exports share.

    Attributes
    ----------
    folder : Path
        The run folder.
    name : str
        The video's file name without its extension: the exports' file names start with it.
    animals : list of int
        The animal ids, in the order of the last axis of ``xy`` and ``score``.
    frames : numpy.ndarray
        ``(n_frames,)`` frame numbers, 0 to n_frames - 1.
    xy : numpy.ndarray
        ``(n_frames, n_animals, 2)`` centroid ``x, y`` in pixels; NaN where the animal is lost.
    score : numpy.ndarray
        ``(n_frames, n_animals)`` the backend's score; NaN where the animal is lost.
    times_s : numpy.ndarray or None
        ``(n_frames,)`` seconds after frame 0, from the video's timestamps; None when unknown.
    fps : float or None
        The average frame rate.
    variable_frame_rate : bool
        Whether the spacing between frames varies (then only ``times_s`` is right, not frame / fps).
    video_path : str
        The tracked video, as the run recorded it.
    height, width : int
        The frame size in pixels.
    metadata : dict
        ``run.json``.
    """

    folder: Path
    name: str
    animals: list
    frames: np.ndarray
    xy: np.ndarray
    score: np.ndarray
    times_s: np.ndarray | None
    fps: float | None
    variable_frame_rate: bool
    video_path: str
    height: int
    width: int
    metadata: dict

    @property
    def animal_names(self) -> list[str]:
        return [f"animal{animal}" for animal in self.animals]

    @property
    def lost(self) -> np.ndarray:
        """``(n_frames, n_animals)`` True where the animal is lost."""
        return np.isnan(self.xy[..., 0])

    def labels(self) -> LabelStore:
        """The run's labels ``(T, H, W)``, read block by block."""
        return LabelStore.open(self.folder, read_only=True)


def read_run(folder, fps: float | None = None) -> RunData:
    """Read the finished run in ``folder``.

    ``fps`` gives the frame rate of an input that has none of its own (a folder of frames, a TIFF
    stack): frame times are then frame / fps. A video's own timestamps and rate take precedence.

    Raises
    ------
    UserInputError
        If ``folder`` does not hold a finished run.
    """
    folder = Path(folder).expanduser()
    run_path, tracks_path = folder / RUN_FILE, folder / TRACKS_FILE
    if not run_path.is_file():
        raise UserInputError(
            f"{folder} is not a run folder (it has no {RUN_FILE}). Give the --out folder of a finished "
            "`sam2-longvideo track` run."
        )
    try:
        metadata = json.loads(run_path.read_text())
    except ValueError as error:
        raise UserInputError(f"{run_path} is damaged ({error}); run the tracking again.") from error
    status = metadata.get("status")
    if status != "finished" or not tracks_path.is_file():
        raise UserInputError(
            f"The run in {folder} is not finished (status {status!r}, {metadata.get('chunks_done', 0)} of "
            f"{metadata.get('chunks', '?')} chunks): run the same `sam2-longvideo track` command again to "
            "finish it, then export."
        )
    table = pd.read_csv(tracks_path)
    animals = [int(a) for a in metadata.get("animals") or sorted(table["animal"].unique())]
    n_frames = int(table["frame"].max()) + 1 if len(table) else 0
    xy = np.full((n_frames, len(animals), 2), np.nan)
    score = np.full((n_frames, len(animals)), np.nan)
    column = {animal: i for i, animal in enumerate(animals)}
    rows, cols = table["frame"].to_numpy(), table["animal"].map(column).to_numpy()
    xy[rows, cols, 0] = table["centroid_x"].to_numpy(np.float64)
    xy[rows, cols, 1] = table["centroid_y"].to_numpy(np.float64)
    seen = ~np.isnan(xy[rows, cols, 0])
    score[rows[seen], cols[seen]] = table["score"].to_numpy(np.float64)[seen]
    info = metadata.get("video_info", {})
    video = metadata.get("video", {})
    times = _frame_times(table, n_frames, info, fps)
    first_frame = LabelStore.open(folder, read_only=True).shape
    return RunData(
        folder=folder,
        name=Path(str(video.get("path", folder.name))).stem or folder.name,
        animals=animals,
        frames=np.arange(n_frames),
        xy=xy,
        score=score,
        times_s=times,
        fps=float(info["fps"]) if info.get("fps") else (float(fps) if fps else None),
        variable_frame_rate=bool(info.get("variable_frame_rate", False)),
        video_path=str(video.get("path", "")),
        height=int(first_frame[1]),
        width=int(first_frame[2]),
        metadata=metadata,
    )


def _frame_times(table: pd.DataFrame, n_frames: int, info: dict, fps: float | None) -> np.ndarray | None:
    """Per-frame seconds: ``tracks.csv``'s ``time_s``, else frame / the video's rate, else frame / ``fps``."""
    if "time_s" in table and table["time_s"].notna().all() and len(table):
        times = np.full(n_frames, np.nan)
        times[table["frame"].to_numpy()] = table["time_s"].to_numpy(np.float64)
        return times
    rate = info.get("fps") or fps  # runs made before time_s, or inputs without timestamps given --fps
    return np.arange(n_frames) / float(rate) if rate else None


def label_boxes(run: RunData) -> np.ndarray:
    """``(n_frames, n_animals, 4)`` each animal's box ``x_min, y_min, x_max, y_max`` (pixel edges); NaN if absent.

    One pass over the labels, a store block at a time.
    """
    from scipy import ndimage

    store = run.labels()
    boxes = np.full((len(run.frames), len(run.animals), 4), np.nan)
    top = max(run.animals)
    for start in range(0, store.shape[0], store.block_length):
        block = np.asarray(store[start : start + store.block_length])
        for offset, frame in enumerate(block):
            found = ndimage.find_objects(frame, max_label=top)
            for i, animal in enumerate(run.animals):
                where = found[animal - 1]
                if where is not None:
                    rows, cols = where
                    boxes[start + offset, i] = (cols.start, rows.start, cols.stop, rows.stop)
    return boxes
