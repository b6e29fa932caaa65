"""Review and correction of a finished run in its folder: what ``review``, ``swap``, ``correct`` and ``undo``
(and the napari review panel) call.

Every correction takes the folder's lock (one writer at a time, as a run does), keeps what it overwrites
for undo (`io.correction_history`), rewrites the frames and records it changed in the store, writes
``labels.tif`` and ``tracks.csv`` again, logs itself in ``corrections.jsonl`` and says in ``run.json``
that the run is corrected. The compute is the engine's (`engine.corrections`, `engine.review`).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.records import UsualAreas
from .engine.corrections import PaintedFrame, RejoinSettings, reflag_jumps, retrack, swap_labels, swap_records
from .engine.events import FrameTracked
from .engine.review import CLOSE_MARGIN, LOW_SCORE, Episode, find_episodes
from .errors import UserInputError
from .io.correction_history import CorrectionHistory, block_ranges, restore
from .io.excerpt import FirstFrames
from .io.export import write_labels_tiff, write_tracks_csv, written_context
from .io.files import write_atomically
from .io.frames import open_frames
from .io.images import read_label_image
from .io.prompts import Prompts
from .io.run_folder import CONTRAST_HANDOVER_FILE, REVIEW_FILE, RunFolder
from .io.run_lock import RunLock
from .io.source import FrameSource
from .io.store import LabelStore
from .run import make_backend
from .settings import TrackSettings

REVIEW_COLUMNS = ("rank", "start", "stop", "animals", "reason", "score")


@dataclass(frozen=True)
class CorrectionWritten:
    """A correction is in the store, the exports and the log: the last event of `correct_run`.

    ``entry`` is its line of ``corrections.jsonl``.
    """

    entry: dict


def review_run(out, low_score: float = LOW_SCORE, close_margin: float = CLOSE_MARGIN) -> list[Episode]:
    """The doubtful episodes of the run in ``out``, worst first, also written to ``out/review.csv``."""
    folder = _run_folder(out)
    store = LabelStore.open(folder.path, read_only=True)
    episodes = find_episodes(store.records(), low_score=low_score, assignments=store.assignments(),
                             close_margin=close_margin)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for rank, e in enumerate(episodes, start=1):
        writer.writerow((rank, e.start, e.stop, " ".join(map(str, e.animals)), e.reason, f"{e.score:g}"))
    write_atomically(folder.path / REVIEW_FILE, lambda handle: handle.write(text.getvalue().encode()))
    return episodes


def swap_animals(out, a: int, b: int, start: int, stop: int | None = None) -> dict:
    """Exchange animals ``a`` and ``b`` on frames ``start`` to ``stop`` (both included; default the last).

    Returns the log entry of the swap.
    """
    began = time.perf_counter()
    with RunLock(_run_folder(out).path):
        folder, metadata, store = _finished_run(out)
        last = store.shape[0] - 1
        stop = last if stop is None else stop
        _check_animals(metadata, [a, b], "swap")
        if a == b:
            raise UserInputError(f"swap {a} {a}: give two different animals.")
        if not 0 <= start <= stop <= last:
            raise UserInputError(
                f"swap --from {start} --to {stop}: the run {folder.path} has frames 0 to {last}; give "
                "--from at most --to, both within them."
            )
        history = CorrectionHistory(folder.path)
        backup = history.new_backup(store, start, {"kind": "swap", "frame": start, "to": stop, "animals": [a, b]})
        for first, end in block_ranges(start, stop + 1, store.block_length):
            backup.keep_frames(first, end)
            store.labels[first:end] = swap_labels(store.labels[first:end], a, b)
        _replace_records(store, backup, swap_records(store.records(), a, b, start, stop), start, stop + 1)
        entry = {"kind": "swap", "frame": start, "to": stop, "animals": [a, b], "frames_retracked": 0}
        return _finish(folder, metadata, store, history, dict(entry, **backup.finish()), began)


def painted_frame(mask, frame) -> PaintedFrame:
    """``mask`` (an ``(H, W)`` integer array, or a label image file) as the painted labels of ``frame``."""
    if frame is None:
        raise UserInputError("A painted mask needs its frame (--frame F; frame= in Python): the frame it shows.")
    if isinstance(mask, (str, Path)):
        mask = read_label_image(mask)
    return PaintedFrame(int(frame), np.asarray(mask))


def correct_run(
    out, prompts: Prompts | PaintedFrame, rejoin: RejoinSettings | None = None, *,
    backend=None, source=None,
) -> Iterator[FrameTracked | CorrectionWritten]:
    """Re-track from the frame of ``prompts`` until the old result is rejoined (or to the end).

    The animals of ``prompts`` get its points on that frame, the others their masks there; a
    `PaintedFrame` gives every animal its painted mask. See `engine.corrections.retrack`. Yields
    `FrameTracked` per re-tracked frame, then `CorrectionWritten`. Closing the generator early (Cancel)
    keeps the frames re-tracked so far, as a correction of its own.

    Parameters
    ----------
    out : str or Path
        The run folder.
    prompts : Prompts or PaintedFrame
        Points, all on one frame, for animals of the run; or one frame's labels as they should be.
    rejoin : RejoinSettings, optional
        When the re-track stops (default: `RejoinSettings`'s defaults).
    backend : SegmentationBackend, optional
        Defaults to the run's own, made from its settings in ``run.json``.
    source : optional
        The video (any input `open_frames` takes) when it is no longer where ``run.json`` says.
    """
    began = time.perf_counter()
    rejoin = rejoin or RejoinSettings()
    rejoin.validate()
    with RunLock(_run_folder(out).path):
        folder, metadata, store = _finished_run(out)
        frames = _run_frames(folder, metadata, source)
        if isinstance(prompts, PaintedFrame):
            start = _check_painted(prompts, store, metadata)
            animals = _check_animals(metadata, [], "correct")
            was = np.asarray(store[start])
            fixed = sorted(a for a in animals if not np.array_equal(was == a, prompts.labels == a))
        else:
            prompts.validate(len(frames), frames.height, frames.width, frames.path or "the video")
            start = int(prompts.frame.min())
            if int(prompts.frame.max()) != start:
                raise UserInputError(
                    f"{prompts.source}: a correction's prompts are all on the one frame it starts from; these are "
                    f"on frames {sorted(set(prompts.frame.tolist()))}. Correct one frame at a time."
                )
            animals = _check_animals(metadata, prompts.animals, "correct")
            fixed = prompts.animals
        handover = folder.path / CONTRAST_HANDOVER_FILE  # the run's hand-over for resuming: not the correction's
        handed_over = handover.read_bytes() if handover.exists() else None
        owned = backend is None
        backend = backend or make_backend(TrackSettings.from_dict(metadata["settings"]), frames, folder.path)
        history = CorrectionHistory(folder.path)
        backup = history.new_backup(store, start, {"kind": "retrack", "frame": start, "animals": fixed})
        writer = _FrameRewriter(store, backup)
        new_records, rejoined, entry = [], False, None
        old = _OldFrames(store)
        total = store.shape[0] - start
        earlier = store.records()
        usual_areas = UsualAreas(earlier[earlier["frame"] < start])  # for the `merged` flags, as the run took them
        try:
            for done, result in enumerate(
                retrack(frames, prompts, backend, store.chunks, old.frame, animals, rejoin, usual_areas), start=1
            ):
                writer.add(result.frame, result.labels)
                new_records.append(result.records)
                rejoined = result.rejoined
                yield FrameTracked(result.frame, done, total)
        finally:  # also when closed early: what was re-tracked is kept, whole
            writer.flush()
            if owned:
                backend.close()
            if handed_over is not None:
                write_atomically(handover, lambda handle: handle.write(handed_over))
            if new_records:
                records = np.concatenate(new_records)
                stop = int(records["frame"].max()) + 1
                everything = store.records()
                rows = (everything["frame"] >= start) & (everything["frame"] < stop)
                everything[rows] = records
                reflag_jumps(everything, stop)
                _replace_records(store, backup, everything, start, stop)
                entry = {"kind": "retrack", "frame": start, "animals": fixed,
                         "painted": isinstance(prompts, PaintedFrame), "frames_retracked": stop - start,
                         "rejoined": rejoined, "to_end": rejoin.to_end, "rejoin_iou": rejoin.rejoin_iou,
                         "rejoin_frames": rejoin.rejoin_frames}
                entry = _finish(folder, metadata, store, history, dict(entry, **backup.finish()), began)
            else:
                backup.discard()
        yield CorrectionWritten(entry)


def undo_last(out) -> dict:
    """Undo the last correction in effect; return its log entry. Raises `UserInputError` when there is none."""
    with RunLock(_run_folder(out).path):
        folder, metadata, store = _finished_run(out)
        history = CorrectionHistory(folder.path)
        entry = history.entries()[-1] if history.entries() else None
        if entry is None:
            raise UserInputError(f"{folder.path} has no correction to undo (its corrections.jsonl is empty or absent).")
        restore(folder.path, store, entry)
        history.pop()
        _write_exports(folder, store, (entry["start"], entry["stop"]))
        left = len(history.entries())
        folder.write_metadata(dict(metadata, corrected=left > 0, corrections=left))
        return entry


def corrections_of(out) -> list[dict]:
    """The corrections in effect in the run in ``out``, oldest first (what undo undoes, last first).

    A correction that was killed before it was logged is among them (``interrupted``), as the next
    correction or undo will log it.
    """
    history = CorrectionHistory(_run_folder(out).path)
    return history.entries() + history.log_interrupted(write=False)


# -- helpers ---------------------------------------------------------------------------------------
def _run_folder(out) -> RunFolder:
    folder = RunFolder(Path(out).expanduser())
    if not folder.run_path.exists():
        raise UserInputError(f"{folder.path} holds no run (no run.json): give the --out folder of a track run.")
    return folder


def _finished_run(out) -> tuple[RunFolder, dict, LabelStore]:
    """The run in ``out``, refused unless it finished (a correction of a half-tracked run would be undone
    by resuming it)."""
    folder = _run_folder(out)
    metadata = folder.read_metadata()
    store = LabelStore.open(folder.path)
    if CorrectionHistory(folder.path).log_interrupted():  # killed mid-way: logged now, so undo takes it back
        metadata = dict(metadata, corrected=True, corrections=len(CorrectionHistory(folder.path).entries()))
        folder.write_metadata(metadata)
    if metadata.get("status") != "finished" or not store.complete:
        raise UserInputError(
            f"The run in {folder.path} is not finished (status {metadata.get('status')!r}, "
            f"{store.frames_done} of {store.shape[0]} frames tracked): run the same track command again to "
            "finish it, then correct it."
        )
    return folder, metadata, store


def _check_animals(metadata: dict, animals, command: str) -> list[int]:
    """The run's animals; refuses ``animals`` that are not among them."""
    known = [int(a) for a in metadata["animals"]]
    unknown = sorted({int(a) for a in animals} - set(known))
    if unknown:
        raise UserInputError(
            f"{command}: animal(s) {', '.join(map(str, unknown))} are not in this run, whose animals are "
            f"{', '.join(map(str, known))}."
        )
    return known


def _check_painted(painted: PaintedFrame, store: LabelStore, metadata: dict) -> int:
    """The painted frame's number, once its labels fit the run: its frame size, its animals."""
    total, height, width = store.shape
    where = f"the mask painted on frame {painted.frame}"
    if not 0 <= painted.frame < total:
        raise UserInputError(f"{where}: the run has frames 0 to {total - 1}; paint one of those.")
    labels = np.asarray(painted.labels)
    if labels.shape != (height, width):
        raise UserInputError(
            f"{where} is {'x'.join(map(str, labels.shape))} pixels; the run's frames are {height}x{width} "
            "(rows x columns): paint on a frame of this run."
        )
    unknown = sorted(set(np.unique(labels).tolist()) - {0} - {int(a) for a in metadata["animals"]})
    if unknown:
        raise UserInputError(
            f"{where} holds label(s) {', '.join(map(str, unknown))}, which are no animal of this run (its animals "
            f"are {', '.join(map(str, metadata['animals']))}; 0 is no animal)."
        )
    return int(painted.frame)


def _run_frames(folder: RunFolder, metadata: dict, source) -> FrameSource:
    """The run's video, checked to be the one it tracked (by its fingerprint, wherever it lies now)."""
    recorded = metadata["video"]
    if source is None:
        source = recorded.get("path")
        if not source or recorded.get("kind") == "array":
            raise UserInputError(
                f"The run in {folder.path} tracked frames held in memory; give the video with --video."
            )
        if not Path(source).exists():
            raise UserInputError(
                f"The video of the run in {folder.path}, {source}, is no longer there; give it with --video."
            )
    frames = source if isinstance(source, FrameSource) else open_frames(source)
    if "first_frames" in recorded:
        frames = FirstFrames(frames, recorded["first_frames"])
    found = {k: v for k, v in frames.fingerprint().items() if k != "path"}
    if found != {k: v for k, v in recorded.items() if k != "path"}:
        raise UserInputError(
            f"{frames.path or 'The video given'} is not the video the run in {folder.path} tracked "
            f"({recorded.get('path')}); give that video with --video."
        )
    return frames


def _replace_records(store: LabelStore, backup, records: np.ndarray, start: int, stop: int) -> None:
    """Write ``records`` (the whole run's) into the record files of the chunks holding frames
    ``start..stop`` (``stop`` included: its jump flag may change), keeping the files as they were."""
    chunks = [c for c in store.chunks if c.start <= stop and c.stop > start]
    backup.keep_records(c.index for c in chunks)
    for chunk in chunks:
        ours = (records["frame"] >= chunk.start) & (records["frame"] < chunk.stop)
        store.replace_records(chunk.index, records[ours])


def _write_exports(folder: RunFolder, store: LabelStore, changed: tuple[int, int]) -> None:
    """``labels.tif`` (only frames ``changed`` compressed anew; the other pages copied) and ``tracks.csv``."""
    write_labels_tiff(store, folder.labels_path, changed=changed)
    write_tracks_csv(store.records(), folder.tracks_path, *written_context(folder.tracks_path))


def _finish(folder: RunFolder, metadata: dict, store: LabelStore, history, entry: dict, began: float) -> dict:
    """Exports, then the log, then ``run.json``: a correction is in effect once it is logged."""
    _write_exports(folder, store, (entry["start"], entry["stop"]))
    entry = dict(entry, seconds=round(time.perf_counter() - began, 3))
    history.append(entry)
    count = len(history.entries())
    folder.write_metadata(dict(metadata, corrected=True, corrections=count))
    return entry


class _OldFrames:
    """The store's frames in order, one block read at a time (read before they are overwritten)."""

    def __init__(self, store: LabelStore):
        self.store, self.block, self.frames = store, None, None

    def frame(self, t: int) -> np.ndarray:
        block = t // self.store.block_length
        if block != self.block:
            first = block * self.store.block_length
            self.block, self.frames = block, self.store.labels[first : first + self.store.block_length]
        return self.frames[t - block * self.store.block_length]


class _FrameRewriter:
    """New frames into the store a block at a time, each block kept in the backup before it is written."""

    def __init__(self, store: LabelStore, backup):
        self.store, self.backup, self.first, self.pending = store, backup, None, []

    def add(self, frame: int, labels: np.ndarray) -> None:
        if not self.pending:
            self.first = frame
        self.pending.append(labels)
        if (frame + 1) % self.store.block_length == 0:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            stop = self.first + len(self.pending)
            self.backup.keep_frames(self.first, stop)
            self.store.labels[self.first : stop] = np.stack(self.pending)
            self.pending = []
