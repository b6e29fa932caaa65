"""One label per pixel from several animals' logits, and the per-frame record of each animal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Two animals whose own masks overlap by more than this fraction of the smaller one are "merged": the
# pixels between them were decided by score alone and deserve a look. Touching animals overlap less.
MERGE_OVERLAP = 0.2

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
    ]
)


def label_dtype(animals: Sequence[int]) -> np.dtype:
    """The smallest unsigned type that holds every animal id."""
    return np.dtype(np.uint8 if max(animals) < 256 else np.uint16)


def resolve_overlaps(
    logits: np.ndarray, animal_ids: Sequence[int], dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Give each pixel to the animal with the highest logit, where that logit is above 0.

    Returns
    -------
    labels : numpy.ndarray
        ``(H, W)`` of ``dtype``: 0 background, else the animal id.
    merged : numpy.ndarray
        ``(N,)`` bool: the animal's own mask overlaps another's by more than `MERGE_OVERLAP`.
    """
    n = len(animal_ids)
    height, width = logits.shape[1:]
    merged = np.zeros(n, bool)
    if n == 0:
        return np.zeros((height, width), dtype), merged
    lookup = np.concatenate([[0], np.asarray(animal_ids)]).astype(dtype)
    if n == 1:
        return np.where(logits[0] > 0, lookup[1], 0).astype(dtype), merged
    # a running maximum over the animals: several times faster than argmax over the first axis
    best = logits[0].copy()
    winner = np.zeros(best.shape, np.intp)
    for i in range(1, n):
        better = logits[i] > best
        winner[better] = i
        np.maximum(best, logits[i], out=best)
    labels = lookup[np.where(best > 0, winner + 1, 0)]
    own = logits > 0
    areas = np.count_nonzero(own.reshape(n, -1), axis=1)
    for i in range(n):
        for j in range(i + 1, n):
            smaller = min(areas[i], areas[j])
            if smaller and np.count_nonzero(own[i] & own[j]) > MERGE_OVERLAP * smaller:
                merged[i] = merged[j] = True
    return labels, merged


def frame_records(
    frame: int,
    labels: np.ndarray,
    animals: Sequence[int],
    scores: dict[int, float],
    merged: dict[int, bool],
    prompted: set[int],
    reanchored: set[int] = frozenset(),
    detector_conf: dict[int, float] | None = None,
) -> np.ndarray:
    """Area, centroid, score and flags of every known animal on one labelled frame.

    Animals missing from ``scores`` were not tracked on this frame (lost before the chunk began) and are
    recorded as lost with score 0. ``detector_conf`` is NaN where no detection was assigned.
    """
    detector_conf = detector_conf or {}
    records = np.zeros(len(animals), TRACK_DTYPE)
    row_index = np.arange(labels.shape[0], dtype=np.float64)
    col_index = np.arange(labels.shape[1], dtype=np.float64)
    for i, animal in enumerate(animals):
        mask = labels == animal
        per_row, per_col = mask.sum(axis=1), mask.sum(axis=0)
        area = int(per_row.sum())
        records[i] = (
            frame,
            animal,
            area,
            per_row @ row_index / area if area else np.nan,
            per_col @ col_index / area if area else np.nan,
            float(scores.get(animal, 0.0)),
            area == 0,
            bool(merged.get(animal, False)),
            animal in prompted,
            animal in reanchored,
            detector_conf.get(animal, np.nan),
            False,
        )
    return records


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
