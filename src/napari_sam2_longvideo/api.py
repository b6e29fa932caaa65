"""The Python API, for scripts and notebooks: `track` a video into a folder, then look at and mend the run.

Everything here is a thin layer over what the command line calls (`run.run_tracking`, `corrections`,
`io.exports.export_run`), with Python's own types at the edges: prompts as a CSV path, a pandas
DataFrame or a list of points; settings as keywords (the fields of `TrackSettings`, checked as the
command line checks them); results as paths, a lazy dask array and a DataFrame. A script or notebook
that calls it needs no ``if __name__ == "__main__":`` guard, whatever the backend (see
`engine.backends.contrast.outline_worker`).

Example
-------
>>> import napari_sam2_longvideo as sl
>>> run = sl.track("two_mice.mp4", [(0, 60, 185, 1), (0, 250, 275, 2)], "run1", backend="contrast")
>>> run.tracks.groupby("animal").area.median()
>>> run.labels[905].compute()
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

from .errors import UserInputError
from .io.prompts import COLUMNS, Prompts
from .io.run_folder import LABELS_ZARR, RunFolder
from .settings import TrackSettings, setting_types

__all__ = ["TrackResult", "correct", "export", "open_run", "review", "settings_from_keywords", "swap", "track",
           "undo"]


@dataclasses.dataclass(frozen=True)
class TrackResult:
    """A run folder and what it holds; reading the labels or the tracks reads the folder as it is now.

    Parameters
    ----------
    folder : Path
        The run's output folder.
    frames_tracked : int
        Frames this call tracked; fewer than the video's when it resumed an earlier run (0 when that
        run had finished).
    """

    folder: Path
    frames_tracked: int = 0

    @property
    def labels_path(self) -> Path:
        """``labels.tif``: T x H x W labels, 0 background, n = animal n."""
        return RunFolder(self.folder).labels_path

    @property
    def zarr_path(self) -> Path:
        """``labels.zarr``: the same labels as a Zarr array, what `labels` reads."""
        return self.folder / LABELS_ZARR

    @property
    def tracks_path(self) -> Path:
        """``tracks.csv``: one row per frame and animal."""
        return RunFolder(self.folder).tracks_path

    @property
    def run_path(self) -> Path:
        """``run.json``: the settings, the video, the prompts and the run's status."""
        return RunFolder(self.folder).run_path

    @property
    def labels(self):
        """The labels ``(T, H, W)`` as a lazy dask array over ``labels.zarr``: frames are read when computed."""
        import dask.array as da

        return da.from_zarr(str(self.zarr_path))

    @property
    def tracks(self):
        """``tracks.csv`` as a pandas DataFrame."""
        import pandas as pd

        return pd.read_csv(self.tracks_path)

    @property
    def metadata(self) -> dict:
        """``run.json``, read now."""
        return json.loads(self.run_path.read_text(encoding="utf-8"))

    @property
    def settings(self) -> TrackSettings:
        """The settings the run was tracked with."""
        return TrackSettings.from_dict(self.metadata["settings"])

    def review(self, **options):
        """The doubtful episodes, worst first (`review`)."""
        return review(self.folder, **options)

    def swap(self, a: int, b: int, start: int, stop: int | None = None) -> dict:
        """Exchange animals ``a`` and ``b`` on frames ``start`` to ``stop`` (`swap`)."""
        return swap(self.folder, a, b, start, stop)

    def correct(self, prompts=None, **options) -> dict | None:
        """Re-track from the frame of ``prompts`` (or of ``mask=``, ``frame=``) until the old result agrees
        again (`correct`)."""
        return correct(self.folder, prompts, **options)

    def undo(self) -> dict:
        """Undo the last correction (`undo`)."""
        return undo(self.folder)

    def export(self, formats, out=None, **options) -> list[Path]:
        """Write the run as SLEAP, DeepLabCut, NWB, movement or COCO files (`export`)."""
        return export(self.folder, formats, out, **options)


def track(video, prompts=None, out=None, *, overwrite: bool = False, progress: bool = True, **settings) -> TrackResult:
    """Track the prompted animals through ``video`` into the folder ``out``, as ``sam2-longvideo track`` does.

    Calling it again with the same arguments resumes an unfinished run after its last finished chunk
    (after an exception or a notebook's interrupt, finished chunks are kept) and returns at once for a
    finished one.

    Parameters
    ----------
    video : str, Path or array
        A video file, a folder of frames, a TIFF stack, or a ``(T, H, W[, 3])`` array.
    prompts : str, Path, pandas.DataFrame, sequence or Prompts, optional
        The clicks, in pixels of the video: a CSV file with the header ``frame,y,x,animal,positive``; a
        DataFrame with those columns; or points as tuples ``(frame, y, x, animal[, positive])`` or dicts
        with those keys. ``positive`` is True where left out. None only for a run whose detector finds
        the animals (``detector=`` or ``detections=`` with ``animals=``).
    out : str or Path
        The output folder (created if needed).
    overwrite : bool
        Start over in ``out`` whatever it holds.
    progress : bool
        Show a progress bar (a widget in Jupyter, text in a terminal).
    **settings
        Any field of `TrackSettings` (``backend="contrast"``, ``chunk_size=50``, ``max_frames=200``, ...).
        A ``backend`` that is not a name is used as the segmentation backend itself (any object with
        the protocol of `engine.backends.base.SegmentationBackend`, such as the testing truth backend).

    Returns
    -------
    TrackResult
        The folder, its files, the labels (lazy) and the tracks.

    Raises
    ------
    UserInputError
        A bad setting, video, prompt or folder, before anything is written.
    """
    from .progress import ProgressBar, RunProgress
    from .run import run_tracking

    if out is None:
        raise UserInputError("track() needs out=, the folder to write the run in (created if it does not exist).")
    backend = settings.pop("backend", None) if not isinstance(settings.get("backend", "sam2"), str) else None
    settings = settings_from_keywords(**settings)
    prompts = as_prompts(prompts)
    if not len(prompts) and settings.link == "none" and not (
        settings.animals and (settings.detector or settings.detections)
    ):
        raise UserInputError(
            "track() needs prompts (a CSV path, a DataFrame or a list of (frame, y, x, animal) points), or a "
            "detector that finds the animals: detector='yolo.pt' or detections='boxes.csv' with animals=N."
        )
    state = RunProgress(settings.chunk_size)
    with ProgressBar(state, enabled=progress, tqdm_class=_auto_tqdm()) as bar:
        events = run_tracking(
            video, prompts, settings, out, overwrite=overwrite, backend=backend, download_progress=bar.download
        )
        try:
            for event in events:
                bar.show(state.update(event))
        finally:
            events.close()  # an interrupt between two events releases the folder's lock now, not when collected
    return TrackResult(RunFolder.check_path(out), state.tracked_frames)


def settings_from_keywords(**values) -> TrackSettings:
    """`TrackSettings` from keywords, checked: an unknown name or a value of the wrong type is refused.

    Paths may be given as `pathlib.Path`. Raises `UserInputError` naming the setting and the fix.
    """
    fields = {field.name: field for field in dataclasses.fields(TrackSettings)}
    unknown = [name for name in values if name not in fields]
    if unknown:
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, fields, 1))
                 else repr(name) for name in unknown]
        raise UserInputError(
            f"Unknown setting(s) {', '.join(hints)}. The settings are: {', '.join(fields)} "
            "(see help(napari_sam2_longvideo.settings.TrackSettings))."
        )
    types = setting_types()
    checked = {name: _checked_value(name, value, types[name]) for name, value in values.items()}
    return TrackSettings(**checked).validate()


def _checked_value(name: str, value, kind):
    """``value`` as setting ``name`` takes it (a Path as its text), or `UserInputError`."""
    import typing

    allowed = [arg for arg in typing.get_args(kind) if arg is not type(None)] or [kind]
    optional = type(None) in typing.get_args(kind)
    if value is None and optional:
        return None
    base = allowed[0]
    if typing.get_origin(base) is list:
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            raise UserInputError(f"Setting {name}={value!r}: give a list of whole numbers.")
        return [int(v) for v in value]
    if base is str and isinstance(value, Path):
        return str(value)
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = _is_int(value)
    elif base is float:
        ok = _is_number(value)
    else:
        ok = isinstance(value, base)
    if not ok:
        wanted = {bool: "True or False", int: "a whole number", float: "a number", str: "text"}.get(base, base.__name__)
        raise UserInputError(f"Setting {name}={value!r}: give {wanted}{' or None' if optional else ''}.")
    return base(value) if base in (int, float) else value


def _is_int(value) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_prompts(prompts, source: str | None = None) -> Prompts:
    """`Prompts` from any of the forms `track` takes (None: no prompts)."""
    if prompts is None:
        return Prompts([], source="no prompts")
    if isinstance(prompts, Prompts):
        return prompts
    if isinstance(prompts, (str, Path)):
        return Prompts.from_csv(prompts)
    if hasattr(prompts, "to_dict") and hasattr(prompts, "columns"):  # a pandas DataFrame
        missing = [c for c in COLUMNS[:4] if c not in prompts.columns]
        if missing:
            raise UserInputError(
                f"The prompts DataFrame lacks the column(s) {', '.join(missing)}; it has "
                f"{', '.join(map(str, prompts.columns)) or 'none'}. Expected: {', '.join(COLUMNS)}."
            )
        return _prompts_from_points(prompts.to_dict("records"), source or "the prompts DataFrame")
    try:
        points = list(prompts)
    except TypeError:
        raise UserInputError(
            f"prompts={prompts!r}: give a CSV path, a DataFrame or a list of (frame, y, x, animal[, positive]) "
            "points."
        ) from None
    return _prompts_from_points(points, source or "the prompts list")


def _prompts_from_points(points, source: str) -> Prompts:
    rows = []
    for i, point in enumerate(points):
        where = f"{source}, point {i + 1}"
        if isinstance(point, dict):
            missing = [c for c in COLUMNS[:4] if c not in point]
            if missing:
                raise UserInputError(f"{where} ({point!r}) lacks {', '.join(missing)}; give {', '.join(COLUMNS)}.")
            values = [point[c] for c in COLUMNS[:4]] + [point.get("positive", True)]
        else:
            values = list(point) if not isinstance(point, (str, bytes)) else []
            if len(values) == 4:
                values.append(True)
            if len(values) != 5:
                raise UserInputError(
                    f"{where} is {point!r}: give (frame, y, x, animal) or (frame, y, x, animal, positive)."
                )
        frame, y, x, animal, positive = values
        if not (_whole(frame) and _whole(animal) and _is_number(y) and _is_number(x)):
            raise UserInputError(
                f"{where} is {point!r}: frame and animal are whole numbers, y and x numbers (pixels of the video)."
            )
        if positive not in (True, False, 0, 1):  # numpy's bools and ints compare equal to these
            raise UserInputError(f"{where}: positive is True/1 or False/0, not {positive!r}.")
        rows.append((int(frame), float(y), float(x), int(animal), bool(positive)))
    return Prompts(rows, source=source)


def _whole(value) -> bool:
    return _is_int(value) or (_is_number(value) and float(value).is_integer())


def _auto_tqdm():
    """tqdm.auto's bar (a widget in Jupyter); its text bar, without the warning, where ipywidgets is missing."""
    try:
        import ipywidgets  # noqa: F401 - what tqdm's notebook bar draws with
    except ImportError:
        # tqdm.auto would warn "IProgress not found" in every notebook, then draw this same text bar
        from tqdm.std import tqdm

        return tqdm
    from tqdm.auto import tqdm

    return tqdm


# -- review and corrections of a finished run -------------------------------------------------------------
def open_run(out) -> TrackResult:
    """The run in folder ``out`` (one `track` wrote), to read or correct."""
    folder = Path(out).expanduser()
    if not RunFolder(folder).run_path.exists():
        raise UserInputError(f"{folder} holds no run (no run.json): give the out folder of a track() run.")
    return TrackResult(folder)


def review(out, low_score: float | None = None):
    """The doubtful episodes of the run in ``out`` as a DataFrame, worst first (also written to review.csv).

    Columns: ``rank, start, stop, animals, reason, score``, as ``sam2-longvideo review`` prints them.
    """
    import pandas as pd

    from .corrections import review_run

    episodes = review_run(out) if low_score is None else review_run(out, low_score=low_score)
    return pd.DataFrame(
        [(rank, e.start, e.stop, e.animals, e.reason, e.score) for rank, e in enumerate(episodes, start=1)],
        columns=["rank", "start", "stop", "animals", "reason", "score"],
    )


def swap(out, a: int, b: int, start: int, stop: int | None = None) -> dict:
    """Exchange animals ``a`` and ``b`` on frames ``start`` to ``stop`` (both included; default the last)."""
    from .corrections import swap_animals

    return swap_animals(out, a, b, start, stop)


def correct(out, prompts=None, *, mask=None, frame: int | None = None, rejoin_iou: float | None = None,
            rejoin_frames: int | None = None, to_end: bool = False, video=None, progress: bool = True) -> dict | None:
    """Re-track the run in ``out`` from the frame of ``prompts`` (all on one frame) until the old result agrees.

    ``prompts`` takes the forms `track` takes. Or ``mask``, frame ``frame``'s labels as they should be
    (an ``(H, W)`` integer array or a label image file; 0 no animal, else the animal id), gives every
    animal its mask there. Returns the correction's log entry (None where nothing was re-tracked).
    ``video`` is needed only when the video moved since the run.
    """
    from .corrections import CorrectionWritten, correct_run, painted_frame
    from .engine.corrections import REJOIN_FRAMES, REJOIN_IOU, RejoinSettings

    if (prompts is None) == (mask is None):
        raise UserInputError("correct takes prompts or a mask (with its frame), one of the two.")
    fix = painted_frame(mask, frame) if mask is not None else as_prompts(prompts)
    rejoin = RejoinSettings(REJOIN_IOU if rejoin_iou is None else rejoin_iou,
                            REJOIN_FRAMES if rejoin_frames is None else rejoin_frames, to_end)
    events = correct_run(out, fix, rejoin, source=video)
    entry = None
    bar = _auto_tqdm()(desc="correcting", unit="frame", disable=not progress) if progress else None
    try:
        for event in events:
            if isinstance(event, CorrectionWritten):
                entry = event.entry
            elif bar is not None:
                bar.update(1)
    finally:
        events.close()
        if bar is not None:
            bar.close()
    return entry


def undo(out) -> dict:
    """Undo the last correction of the run in ``out``; returns its log entry."""
    from .corrections import undo_last

    return undo_last(out)


def export(out, formats, to=None, *, nwb_metadata=None, fps: float | None = None) -> list[Path]:
    """Write the finished run in ``out`` in ``formats`` (sleap, dlc, nwb, movement, coco, or all) into ``to``
    (default ``out/exports``); returns the files written. ``nwb_metadata``: a dict or a YAML file."""
    from .io.exports import export_run, read_nwb_metadata

    if isinstance(nwb_metadata, (str, Path)):
        nwb_metadata = read_nwb_metadata(nwb_metadata)
    return export_run(out, formats, to, nwb_metadata=nwb_metadata, fps=fps)
