"""The overlay video of a finished run, made from its folder: after corrections, or when ``track`` was run
without ``--overlay``. The labels as they are now, on the run's own video."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import UserInputError
from ..excerpt import FirstFrames
from ..frames import open_frames
from ..overlay import write_overlay
from ..run_folder import TRACKS_FILE
from .run_data import RunData


def write_overlay_video(run: RunData, folder: Path) -> list[Path]:
    """``NAME_overlay.mp4`` in ``folder``: each label's outline, id and class name on the run's frames."""
    video = Path(run.video_path)
    if not run.video_path or not video.exists():
        raise UserInputError(
            f"The run's video {run.video_path or '(none recorded)'} is not there; the overlay draws the labels "
            f"on it. Put it back where it was tracked from, then export the overlay of {run.folder} again."
        )
    frames = open_frames(video)
    labels = run.labels()
    if len(frames) > len(labels):  # a run of the first frames only (--max-frames)
        frames = FirstFrames(frames, len(labels))
    return [write_overlay(folder / f"{run.name}_overlay.mp4", frames, labels, _captions(run.folder), fps=run.fps)]


def _captions(folder: Path):
    """``captions(t)``: each animal's id and, where ``tracks.csv`` names its class on frame t, the name."""
    table = pd.read_csv(folder / TRACKS_FILE)
    if "class_name" not in table.columns:
        return None
    named: dict[int, dict[int, str]] = {}
    for frame, animal, name in table[["frame", "animal", "class_name"]].dropna().itertuples(index=False):
        if str(name):
            named.setdefault(int(frame), {})[int(animal)] = f"{int(animal)} {name}"
    return lambda t: named.get(t, {})
