"""Corrections of a finished run, as pure compute: swapping two animals, re-tracking until rejoined.

Nothing here reads or writes a run folder (`corrections` beside `run` does that, with the lock, the
backups for undo and the exports): labels and records go in, labels and records come out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..core.chunks import Chunk
from ..core.records import flag_jumps
from ..io.prompts import Prompts
from ..io.source import FrameSource
from .backends.base import SegmentationBackend
from .tracker import track_from

# Defaults of `RejoinSettings`: a re-tracked animal's mask this close to the old one ...
REJOIN_IOU = 0.9
# ... on this many consecutive frames (every animal at once) means the old result is right from there on.
REJOIN_FRAMES = 10


@dataclass(frozen=True)
class RejoinSettings:
    """When a re-track from a corrected frame stops and the old frames are kept.

    Parameters
    ----------
    rejoin_iou : float
        An animal agrees with the old result on a frame where its new and old masks have at least this
        intersection over union (an animal absent from both agrees).
    rejoin_frames : int
        The re-track stops after this many consecutive frames on which every animal agrees.
    to_end : bool
        Re-track to the end of the video whatever agrees.
    """

    rejoin_iou: float = REJOIN_IOU
    rejoin_frames: int = REJOIN_FRAMES
    to_end: bool = False

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 0 < self.rejoin_iou <= 1:
            raise UserInputError(f"--rejoin-iou is {self.rejoin_iou}: give a number above 0 and at most 1.")
        if self.rejoin_frames < 1:
            raise UserInputError(f"--rejoin-frames is {self.rejoin_frames}: give a whole number of at least 1.")


@dataclass(frozen=True)
class PaintedFrame:
    """A frame as a person painted it: ``labels`` ``(H, W)`` hold every animal's right mask on ``frame``
    (0 is no animal; an animal left out is lost there). The fix a click cannot give: the mask's extent."""

    frame: int
    labels: np.ndarray


@dataclass(frozen=True)
class RetrackedFrame:
    """One re-tracked frame: its new labels and records, and whether the old result is rejoined with it
    (the last frame a re-track yields, unless it reached the end of the video)."""

    frame: int
    labels: np.ndarray
    records: np.ndarray
    rejoined: bool


def retrack(
    frames: FrameSource,
    prompts: Prompts | PaintedFrame,
    backend: SegmentationBackend,
    chunks: list[Chunk],
    old_frame: Callable[[int], np.ndarray],
    animals: list[int],
    settings: RejoinSettings | None = None,
    usual_areas=None,
) -> Iterator[RetrackedFrame]:
    """Re-track from the frame of ``prompts`` until the old result agrees again (or to the end).

    On the corrected frame the animals of ``prompts`` get their points; every other animal of ``animals``
    gets its mask from the old labels there (``old_frame(t)`` gives the old labels of frame ``t``), so
    it keeps its identity (`starting_masks`). A `PaintedFrame` instead gives every animal its painted
    mask. `tracker.track_from` does the tracking (``usual_areas``: the animals' usual areas before the
    corrected frame, `core.records.UsualAreas`, for the ``merged`` flags).
    """
    settings = settings or RejoinSettings()
    if isinstance(prompts, PaintedFrame):
        start, painted = prompts.frame, np.asarray(prompts.labels)
        old = old_frame(start)
        masks = {a: painted == a for a in animals}
        prompts = Prompts([], source=f"the mask painted on frame {start}")
    else:
        start = int(prompts.frame.min())
        old = old_frame(start)
        masks = starting_masks(old, prompts, animals)
    dtype = old.dtype
    agreeing = 0
    for frame, labels, records in track_from(frames, prompts, backend, chunks, start, masks, dtype, usual_areas):
        previous = old if frame == start else old_frame(frame)
        agreeing = agreeing + 1 if agrees(labels, previous, animals, settings.rejoin_iou) else 0
        rejoined = not settings.to_end and agreeing >= settings.rejoin_frames
        yield RetrackedFrame(frame, labels, records, rejoined)
        if rejoined:
            return


def starting_masks(old: np.ndarray, prompts: Prompts, animals) -> dict[int, np.ndarray]:
    """The mask each animal without a click starts the re-track with: its own in the old labels ``old``.

    Except where a click says the old labels swapped two animals: an animal clicked (positively) inside
    another animal's old mask *is* that mask, so the other one, unclicked, takes the clicked animal's
    old mask. One click on the right animal then mends a swap, as a person expects.
    """
    masks = {a: old == a for a in animals if a not in prompts.animals}
    for group in prompts.groups(int(prompts.frame.min()), int(prompts.frame.max()) + 1):
        for y, x in group.points_yx[group.positive]:
            under = int(old[round(y), round(x)])
            if under in masks and under != group.animal:
                masks[under] = old == group.animal
    return masks


def agrees(new: np.ndarray, old: np.ndarray, animals, min_iou: float) -> bool:
    """Every animal's mask in ``new`` has at least ``min_iou`` IoU with its mask in ``old``."""
    for animal in animals:
        a, b = new == animal, old == animal
        union = np.count_nonzero(a | b)
        if union and np.count_nonzero(a & b) < min_iou * union:
            return False
    return True


def swap_labels(labels: np.ndarray, a: int, b: int) -> np.ndarray:
    """``labels`` with the values ``a`` and ``b`` exchanged (a new array)."""
    swapped = labels.copy()
    swapped[labels == a] = b
    swapped[labels == b] = a
    return swapped


def swap_records(records: np.ndarray, a: int, b: int, start: int, stop: int) -> np.ndarray:
    """``records`` (of a whole run) with what animals ``a`` and ``b`` were on frames ``start..stop`` exchanged.

    Each row keeps its frame and animal; everything else (area, centroid, score, flags) moves to the
    other animal's row. The jump flags on ``start`` and on ``stop + 1`` are taken again, since the swap
    moves both animals there.
    """
    records = records.copy()
    inside = (records["frame"] >= start) & (records["frame"] <= stop)
    rows_a = np.flatnonzero(inside & (records["animal"] == a))
    rows_b = np.flatnonzero(inside & (records["animal"] == b))
    if not np.array_equal(records["frame"][rows_a], records["frame"][rows_b]):
        raise ValueError(f"animals {a} and {b} do not both have a record on every frame {start}..{stop}")
    for name in records.dtype.names:
        if name not in ("frame", "animal"):
            column = records[name]
            column[rows_a], column[rows_b] = column[rows_b].copy(), column[rows_a].copy()
    reflag_jumps(records, start)
    reflag_jumps(records, stop + 1)
    return records


def reflag_jumps(records: np.ndarray, frame: int) -> None:
    """Take the jump flags of ``frame`` again against the frame before, in ``records`` (a whole run's)."""
    rows = np.flatnonzero(records["frame"] == frame)
    before = records[records["frame"] == frame - 1]
    if not len(rows):
        return
    part = records[rows]
    if len(before) == len(part):
        flag_jumps(part, before)
    else:
        part["jumped"] = False  # the first frame
    records[rows] = part
