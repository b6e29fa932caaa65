"""Which detection is which animal: one global assignment, never the detector's confidence order.

Two identical mice give the detector no way to tell them apart; only where each animal was a moment ago
does. Every animal is matched to at most one detection (and each detection to at most one animal) by
minimising the summed cost over all pairs at once (Hungarian algorithm), where a pair's cost grows as
its boxes overlap less and its centres lie further apart. Pairs beyond the gates are never matched; a
detection left over creates nothing.

Each match keeps its cost and its *margin*: how much dearer the assignment would be had this animal
exchanged detections with its closest rival (another matched animal) or taken a detection left over.
A margin near 0 is a close call, two animals the boxes cannot tell apart: a likely swap, which the
review lists (`engine.review`, reason ``close_assignment``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...core.geometry import box_centre, box_iou

# A pair costs at most 2 (no overlap at the gate distance); anything dearer is out of reach.
UNREACHABLE = 1e6


@dataclass(frozen=True)
class Match:
    """Detection ``detection`` (index into the detections) is animal ``animal``."""

    animal: int
    detection: int
    iou: float  # between the animal's last box and the detection; nan when the animal had no box
    confidence: float
    cost: float = float("nan")  # this pair's cost (0 to 2)
    margin: float = float("inf")  # extra cost of the best alternative for this animal (see above)


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
        Animal -> ``(y, x)`` where it was last seen (for an animal whose box is gone, its last known
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
    cost, ious = pair_costs(last_boxes, last_centers, boxes, max_distance=max_distance)
    rows, cols = linear_sum_assignment(cost)
    kept = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < UNREACHABLE]
    return {
        animals[r]: Match(animals[r], int(c), float(ious[r, c]), float(confidences[c]), float(cost[r, c]),
                          assignment_margin(cost, kept, r))
        for r, c in kept
    }


def pair_costs(last_boxes, last_centers, boxes, *, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """``(cost, iou)``, each ``(animals, detections)``: what matching each animal of ``last_boxes`` to each
    box costs (see `assign_detections` for the arguments), and the overlap of its last box with each."""
    animals = list(last_boxes)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    centers = np.array([box_centre(b) for b in boxes]).reshape(-1, 2)
    cost = np.full((len(animals), len(boxes)), UNREACHABLE)
    ious = np.full((len(animals), len(boxes)), np.nan)
    for i, animal in enumerate(animals):
        box, center = last_boxes[animal], last_centers.get(animal)
        if box is not None:
            ious[i] = box_iou(box, boxes)[0]
            center = box_centre(box)
        if center is None:
            cost[i] = 1.5  # no prior at all: dearer than any animal with a reachable prior
            continue
        distance = np.linalg.norm(centers - np.asarray(center, float), axis=1)
        reachable = distance <= max_distance
        overlap = np.nan_to_num(ious[i], nan=0.0)
        cost[i, reachable] = (1.0 - overlap[reachable]) + distance[reachable] / max_distance
    return cost, ious


def assignment_margin(cost: np.ndarray, matched: list[tuple[int, int]], row: int, *, rows_left_over=False) -> float:
    """How much dearer the assignment ``matched`` (pairs of ``cost``'s rows and columns) would be had
    ``row`` exchanged its column with another matched row, or moved to a column nobody took; with
    ``rows_left_over``, also had it given its column to a row that got none (one box between where two
    animals were last seen, only one of them on the frame)."""
    own = dict(matched)
    column = own[row]
    options = [cost[row, c] + cost[r, column] - cost[row, column] - cost[r, c] for r, c in matched if r != row]
    if rows_left_over:
        options += [cost[r, column] - cost[row, column] for r in range(cost.shape[0]) if r not in own]
    taken = set(own.values())
    options += [cost[row, c] - cost[row, column] for c in range(cost.shape[1]) if c not in taken]
    options = [o for o in options if o < UNREACHABLE / 2]  # an exchange with an unreachable pair is no option
    return float(min(options)) if options else float("inf")
