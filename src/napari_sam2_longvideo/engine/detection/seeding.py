"""What each animal is prompted with at the start of a chunk: its carried mask, or a detector's box.

Without a detector every animal with pixels on the previous chunk's last frame carries that mask. With
one, the chunk's first frame is searched for animals and the boxes are assigned to animals globally
(`assign_detections`):

- an animal whose carried mask disagrees with its box (IoU below ``reanchor_iou``; its mask has slid
  onto the other animal, or grown over the floor) is prompted with the box instead: re-anchored;
- a lost animal (no carried mask) is prompted with the first confident box assigned to it, searching
  the chunk's frames in order; the tracker fills the frames before that one by propagating backward.
  The frames searched in vain are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.chunks import Chunk
from ...core.geometry import mask_box
from .assignment import assign_detections
from .detector import Detector, detect_frame


@dataclass
class ChunkSeeds:
    """Prompts for one chunk, beyond the user's own.

    ``masks`` go on ``mask_frame``, the frame they were carried from (the one before the chunk, or an
    earlier one when the chunk was preceded by blank frames); ``boxes`` map an animal to ``(frame, box)``.
    """

    mask_frame: int | None = None
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    boxes: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)
    detector_conf: dict[tuple[int, int], float] = field(default_factory=dict)  # (frame, animal) -> conf
    reanchored: set[tuple[int, int]] = field(default_factory=set)  # (frame, animal)
    undetected: dict[int, list[int]] = field(default_factory=dict)  # animal -> frames searched in vain
    # frame -> animal -> `LinkedBox`: a box prompt on every frame of a detector-linked run (--link)
    linked: dict[int, dict] = field(default_factory=dict)
    # each match of a box to an animal: frame, animal, cost, margin (`assignment.Match`), for the review
    assignments: list[dict] = field(default_factory=list)


def seed_chunk(
    frames,
    chunk: Chunk,
    carry: dict[int, np.ndarray],
    last_centers: dict[int, np.ndarray | None],
    detector: Detector | None,
    *,
    reanchor_iou: float = 0.5,
    max_distance: float | None = None,
) -> ChunkSeeds:
    """Decide the chunk's seeds; ``carry`` maps every animal to its mask on the frame before the chunk."""
    seeds = ChunkSeeds()
    last_boxes = {animal: mask_box(mask) for animal, mask in carry.items()}
    if detector is None:
        seeds.masks = {a: m for a, m in carry.items() if last_boxes[a] is not None}
        return seeds
    # an animal moves at most about its own length between two frames of the clips we see
    max_distance = max_distance or 0.5 * float(np.hypot(frames.height, frames.width))

    found = detect_frame(detector, frames, chunk.start)
    matches = assign_detections(last_boxes, last_centers, found.boxes, found.confidences, max_distance=max_distance)
    lost = []
    for animal, box in last_boxes.items():
        match = matches.get(animal)
        if match is not None:
            seeds.detector_conf[(chunk.start, animal)] = match.confidence
            seeds.assignments.append(assignment_row(chunk.start, match))
        if box is None:
            if match is not None:
                seeds.boxes[animal] = (chunk.start, found.boxes[match.detection])
                seeds.reanchored.add((chunk.start, animal))
            else:
                lost.append(animal)
        elif match is not None and match.iou < reanchor_iou:
            seeds.boxes[animal] = (chunk.start, found.boxes[match.detection])
            seeds.reanchored.add((chunk.start, animal))
        else:
            seeds.masks[animal] = carry[animal]

    if lost:
        _search_lost(frames, chunk, lost, last_boxes, last_centers, detector, max_distance, seeds)
    return seeds


def _search_lost(frames, chunk, lost, last_boxes, last_centers, detector, max_distance, seeds):
    """Look for lost animals frame by frame through the chunk; the animals still tracked compete too,
    so a lost animal cannot take the box of one that is right there."""
    searching = list(lost)
    seeds.undetected = {animal: [chunk.start] for animal in lost}
    for frame in range(chunk.start + 1, chunk.stop):
        if not searching:
            break
        found = detect_frame(detector, frames, frame)
        priors = {a: b for a, b in last_boxes.items() if a not in searching}
        priors.update({a: None for a in searching})
        matches = assign_detections(priors, last_centers, found.boxes, found.confidences, max_distance=max_distance)
        for animal in list(searching):
            match = matches.get(animal)
            if match is None:
                seeds.undetected[animal].append(frame)
                continue
            seeds.boxes[animal] = (frame, found.boxes[match.detection])
            seeds.reanchored.add((frame, animal))
            seeds.detector_conf[(frame, animal)] = match.confidence
            seeds.assignments.append(assignment_row(frame, match))
            searching.remove(animal)
    seeds.undetected = {a: f for a, f in seeds.undetected.items() if f}


def assignment_row(frame: int, match) -> dict:
    """A match as the store keeps it (JSON: an infinite margin, no alternative at all, is None)."""
    margin = match.margin if np.isfinite(match.margin) else None
    return {"frame": int(frame), "animal": int(match.animal), "cost": round(match.cost, 4),
            "margin": None if margin is None else round(margin, 4)}


def first_frame_with(detector: Detector, frames, animals) -> tuple[int, dict[int, np.ndarray]] | None:
    """The first frame where ``detector`` finds as many animals as ``animals`` holds, and a box for each
    (the most confident ones, numbered left to right, then top to bottom); None when no frame has them.

    This prompts a run that has no clicks (``--animals N`` with a detector): the video's first frame
    often shows fewer animals than there are (one still in its shelter, two touching).
    """
    animals = list(animals)
    for frame in range(len(frames)):
        found = detect_frame(detector, frames, frame)
        if len(found) >= len(animals):
            best = np.argsort(-np.asarray(found.confidences), kind="stable")[: len(animals)]
            boxes = sorted((found.boxes[i] for i in best), key=lambda b: (b[0], b[1]))
            return frame, dict(zip(animals, boxes))
    return None
