"""Boxes drawn from a run's labels, as a detector with misses and false boxes would give them, and the
identity check a linked run is held to against that run."""

from __future__ import annotations

import numpy as np

from ..core.geometry import mask_box


def boxes_from_labels(labels, seed=0, animals=(1, 2)):
    """Rows ``(frame, x0, y0, x1, y1, confidence, class_id, class_name)``: each label's box on each frame,
    shuffled, 10% missed, and a false box on a third of the frames in the frame's corners, where the
    arena's walls are and no mouse goes."""
    rng = np.random.default_rng(seed)
    height, width = labels.shape[1:]
    rows = []
    for frame, image in enumerate(labels):
        found = [(*mask_box(image == a), rng.uniform(0.6, 0.95)) for a in animals if (image == a).any()]
        found = [box for box in found if rng.random() >= 0.1]
        if rng.random() < 1 / 3:
            x0, y0 = rng.choice([5.0, width - 45.0]), rng.choice([3.0, height - 33.0])
            found.append((x0, y0, x0 + 40, y0 + 30, rng.uniform(0.3, 0.7)))
        rows += [(frame, *found[i], 0, "mouse") for i in rng.permutation(len(found))]
    return rows


def orientation(linked, reference, frame):
    """``"same"`` when linked label 1 is the reference's animal 1 on ``frame`` (by overlap), ``"swapped"``
    when it is animal 2, None when neither has both there. Two animals, labels 1 and 2."""
    def overlap(a, b):
        return np.logical_and(linked[frame] == a, reference[frame] == b).sum()

    same, swapped = overlap(1, 1) + overlap(2, 2), overlap(1, 2) + overlap(2, 1)
    return None if same + swapped == 0 else "same" if same >= swapped else "swapped"


def identity_changes(linked, reference) -> list[int]:
    """The frames where the linked labels' `orientation` to the reference changes from the frame before
    (frames without both animals skipped)."""
    seen = [(f, o) for f in range(len(linked)) if (o := orientation(linked, reference, f)) is not None]
    return [frame for (_, before), (frame, now) in zip(seen, seen[1:]) if now != before]


# an identity decided as two touching animals part may show on the first frames after their episode
AFTER_TOUCHING = 3


def at_episodes(frames, episodes, after: int = AFTER_TOUCHING) -> list[int]:
    """The ``frames`` that lie in one of ``episodes`` (``(start, stop)``, both included) or at most
    ``after`` frames past its stop."""
    return [f for f in frames if any(start <= f <= stop + after for start, stop in episodes)]
