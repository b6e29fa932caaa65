"""The per-frame record of each animal (one row of ``tracks.csv``) and helpers over records."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence

import numpy as np

TRACK_DTYPE = np.dtype(
    [
        ("frame", np.int64),
        ("animal", np.int32),
        ("area", np.int64),
        ("centroid_y", np.float64),
        ("centroid_x", np.float64),
        ("score", np.float32),
        ("lost", bool),
        ("merged", bool),
        ("prompted", bool),
        ("reanchored", bool),
        ("detector_conf", np.float32),
        ("jumped", bool),
        # detector-linked runs (--link): the tracker's track, its score and the box's class; -1 / NaN
        # elsewhere. Added at the end so that the columns before them stay as they were.
        ("track_id", np.int64),
        ("class_id", np.int32),
        ("track_score", np.float32),
    ]
)
NO_TRACK = {"track_id": -1, "class_id": -1, "track_score": np.nan}


def as_track_records(records: np.ndarray) -> np.ndarray:
    """``records`` with every field of `TRACK_DTYPE`: records saved before a field existed get its default."""
    if records.dtype == TRACK_DTYPE:
        return records
    upgraded = np.zeros(records.shape, TRACK_DTYPE)
    for name in TRACK_DTYPE.names:
        if name in (records.dtype.names or ()):
            upgraded[name] = records[name]
        elif name in NO_TRACK:
            upgraded[name] = NO_TRACK[name]
    return upgraded


def label_dtype(animals: Sequence[int]) -> np.dtype:
    """The smallest unsigned type that holds every animal id."""
    return np.dtype(np.uint8 if max(animals) < 256 else np.uint16)


def flag_jumps(records: np.ndarray, before: np.ndarray | None) -> None:
    """Flag ``jumped`` where an animal's centre moved more than its own length since the frame before.

    Its length is taken as twice the square root of its area (an ellipse three times as long as wide).
    A jump is a mask that leapt to another animal or object, or a fast animal at a low frame rate:
    either way worth a look. ``before`` holds the previous frame's records (same animal order).
    """
    if before is None:
        return
    seen = ~records["lost"] & ~before["lost"]
    step = np.hypot(records["centroid_y"] - before["centroid_y"], records["centroid_x"] - before["centroid_x"])
    length = 2 * np.sqrt(np.maximum(records["area"], before["area"]))
    records["jumped"] = seen & (step > length)


# An animal at least this many times its usual area, on a frame where another animal is lost or under
# `MERGED_SMALL` of its own usual area, is taken to hold both: one mask over two touching animals, whatever
# made it (a click on one of them, or a segmenter that took the pair for one).
MERGED_LARGE = 1.6
MERGED_SMALL = 0.5
AREA_HISTORY = 100  # an animal's usual area: the median over the last this many frames it was seen on
MIN_AREA_HISTORY = 10  # frames seen before its usual area is trusted


class UsualAreas:
    """Each animal's usual area, from the frames it was seen on so far; flags the masks that hold two animals.

    Built from the records before a frame (`add`), it gives the same flags to a run tracked at once and
    to one resumed from its store, since it reads only what the records hold.

    Parameters
    ----------
    records : numpy.ndarray, optional
        Records (``TRACK_DTYPE``) of the frames before, in frame order.
    """

    def __init__(self, records: np.ndarray | None = None):
        # per animal: its last areas in order seen, and the same sorted (the median without sorting
        # anew on every frame: this runs on every frame of every run)
        self._recent: dict[int, deque] = {}
        self._sorted: dict[int, list[int]] = {}
        if records is not None and len(records):
            for animal in np.unique(records["animal"]).tolist():
                rows = records[(records["animal"] == animal) & ~records["lost"]]
                self._recent[animal] = deque(rows["area"][-AREA_HISTORY:].tolist())
                self._sorted[animal] = sorted(self._recent[animal])

    def add(self, records: np.ndarray) -> None:
        """Take in one frame's records."""
        for animal, area, lost in zip(records["animal"].tolist(), records["area"].tolist(), records["lost"].tolist()):
            if lost:
                continue
            recent, ordered = self._recent.setdefault(animal, deque()), self._sorted.setdefault(animal, [])
            if len(recent) == AREA_HISTORY:
                del ordered[bisect.bisect_left(ordered, recent.popleft())]
            recent.append(area)
            bisect.insort(ordered, area)

    def usual(self, animal: int) -> float | None:
        """The median of the animal's last `AREA_HISTORY` areas seen; None before `MIN_AREA_HISTORY` of them."""
        ordered = self._sorted.get(animal, ())
        count = len(ordered)
        if count < MIN_AREA_HISTORY:
            return None
        middle = count // 2
        return float(ordered[middle]) if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def flag_merged(self, records: np.ndarray) -> None:
        """Flag ``merged`` (in place) on one frame's records where an animal's mask is far above its usual
        area while another's is lost or far below: both are flagged. Flags already set stay."""
        areas, lost = records["area"].tolist(), records["lost"].tolist()
        usual = [self.usual(animal) for animal in records["animal"].tolist()]
        large = [u is not None and area >= MERGED_LARGE * u for area, u in zip(areas, usual)]
        if not any(large):
            return
        small = [gone or (u is not None and area < MERGED_SMALL * u) for area, gone, u in zip(areas, lost, usual)]
        merged = records["merged"]
        for i in (i for i, big in enumerate(large) if big):
            others = [j for j, tiny in enumerate(small) if tiny and j != i]
            if others:
                merged[[i, *others]] = True
