"""The overlay video of a finished run, made from its folder: after corrections, or when ``track`` was run
without ``--overlay``. The labels as they are now, on the run's own video."""

from __future__ import annotations

from pathlib import Path

from ...errors import UserInputError
from ..excerpt import FirstFrames
from ..export import written_context
from ..frames import open_frames
from ..overlay import track_captions, write_overlay
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
    # captions as `track --overlay` draws them: the class names come back from tracks.csv
    captions = track_captions(labels.records(), written_context(run.folder / TRACKS_FILE)[1])
    return [write_overlay(folder / f"{run.name}_overlay.mp4", frames, labels, captions, fps=run.fps)]
