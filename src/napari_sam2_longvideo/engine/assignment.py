"""Which detection is which animal: one global assignment, never the detector's confidence order.

Two identical mice give the detector no way to tell them apart; only where each animal was a moment ago
does. Every animal is matched to at most one detection (and each detection to at most one animal) by
minimising the summed cost over all pairs at once (Hungarian algorithm), where a pair's cost grows as
its boxes overlap less and its centres lie further apart. Pairs beyond the gates are never matched; a
detection left over creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

# A pair costs at most 2 (no overlap at the gate distance); anything dearer is out of reach.
UNREACHABLE = 1e6


@dataclass(frozen=True)
class Match:
    """Detection ``detection`` (index into the detections) is animal ``animal``."""

    animal: int
    detection: int
    iou: float  # between the animal's last box and the detection; nan when the animal had no box
    confidence: float


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """``(x0, y0, x1, y1)`` around the mask's pixels (pixel edges), or None for an empty mask."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return np.array([x0, y0, x1 + 1, y1 + 1], np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_center(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def assign_detections(
    last_boxes: dict[int, np.ndarray | None],
    last_centers: dict[int, np.ndarray | None],
    boxes: np.ndarray,
    confidences: np.ndarray,
    *,
    max_distance: float,
) -> dict[int, Match]:
    """Match animals to detections, globally.

    Parameters
    ----------
    last_boxes : dict
        Animal -> its box ``(x0, y0, x1, y1)`` where it was last seen, or None when its mask is empty.
    last_centers : dict
        Animal -> ``(x, y)`` where it was last seen (for an animal whose box is gone, its last known
        centre), or None when nothing is known: such an animal may take any detection no other wants.
    boxes, confidences : numpy.ndarray
        Detections, ``(M, 4)`` xyxy and ``(M,)``.
    max_distance : float
        Centres further apart than this (pixels) are never matched, however confident the detection.

    Returns
    -------
    dict
        Animal -> `Match`, for the animals that got a detection.
    """
    animals = list(last_boxes)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    if not animals or not len(boxes):
        return {}
    centers = np.array([box_center(b) for b in boxes])
    cost = np.full((len(animals), len(boxes)), UNREACHABLE)
    ious = np.full((len(animals), len(boxes)), np.nan)
    for i, animal in enumerate(animals):
        box, center = last_boxes[animal], last_centers.get(animal)
        if box is not None:
            ious[i] = box_iou(box, boxes)[0]
            center = box_center(box)
        if center is None:
            cost[i] = 1.5  # no prior at all: dearer than any animal with a reachable prior
            continue
        distance = np.linalg.norm(centers - np.asarray(center, float), axis=1)
        reachable = distance <= max_distance
        overlap = np.nan_to_num(ious[i], nan=0.0)
        cost[i, reachable] = (1.0 - overlap[reachable]) + distance[reachable] / max_distance
    rows, cols = linear_sum_assignment(cost)
    return {
        animals[r]: Match(animals[r], int(c), float(ious[r, c]), float(confidences[c]))
        for r, c in zip(rows, cols)
        if cost[r, c] < UNREACHABLE
    }
