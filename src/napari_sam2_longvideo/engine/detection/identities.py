"""Which tracked box is which animal, frame by frame, when the number of animals is fixed.

A multi-object tracker's ids are not identities: it starts a new id whenever it loses an animal for
longer than it can bridge, and when an animal it follows is missed on a frame its track may take the
other animal's box. So the tracker's continuity is a cue here, not the decision. On every frame the
identities are matched to the frame's tracked boxes by one global assignment (Hungarian), where a pair
costs what it costs at chunk starts (`assignment.pair_costs`: how little the box overlaps the identity's
last box and how far from it it lies), less `HOLD_BONUS` when the box's track already holds that
identity. A track that jumps onto the box of an animal seen there a frame ago loses that box to it.

Two gates keep false boxes out: a pair is never made across more than `SIZE_RATIO` in area from the
identity's usual box (a pellet, a cage corner), nor beyond the distance gate. And an identity takes a
box only when the choice is clear: when another identity could have the box, or this identity another
box, for less than `CLEAR_MARGIN` more, the box is left unused on this frame (the segmenter carries the
animal's mask over it). That is the frame of two touching animals, or of one box halfway between where
two missed animals were last seen; the next clear frame decides.

Tracks that never get an identity are recorded as ignored; a track that has been clearly more confident
than an identity's track for a while takes that identity over (a still object detected on the first
frames, where an animal was missed, gives its identity up so).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...core.geometry import box_area
from .assignment import UNREACHABLE, assignment_margin, pair_costs

# what holding an identity on the frames before is worth, in the units of `pair_costs` (0 to 2)
HOLD_BONUS = 0.5
# an assignment closer than this to its best alternative is not made on this frame
CLEAR_MARGIN = 0.1
# a box is that identity's only within this factor of the median area of its last SIZE_FRAMES boxes
SIZE_RATIO, SIZE_FRAMES = 3.0, 100
# assignments with a margin below this are kept for the review (its `close_assignment` default is 0.25)
KEPT_MARGIN = 0.5
# a track takes over the identity of the least confident one when its mean confidence is this much higher,
# over at least this many frames
TAKEOVER_MARGIN, TAKEOVER_FRAMES = 0.15, 5


@dataclass(frozen=True)
class TrackedBox:
    """One box of the tracker's on this frame: its track, the box, the score and whether the tracker
    has confirmed the track (a track is confirmed from its second frame on)."""

    track_id: int
    box: np.ndarray
    score: float
    confirmed: bool = True


@dataclass
class IgnoredTrack:
    """A track left over (no identity would take its box): the first and last frame it was left over on."""

    first: int
    last: int


class Identities:
    """The fixed identities ``animals`` and what is known of each: its last box, its usual size, the
    track that holds it.

    Parameters
    ----------
    animals : list of int
        The identities (labels).
    max_distance : float
        A box further than this many pixels from where an identity was last seen is never that identity.
    """

    def __init__(self, animals, max_distance: float):
        self.animals, self.max_distance = list(animals), max_distance
        self.holder: dict[int, int] = {}  # identity -> the track id holding it
        self.last_box: dict[int, np.ndarray | None] = dict.fromkeys(self.animals)
        self.ignored: dict[int, IgnoredTrack] = {}
        self._areas = {a: deque(maxlen=SIZE_FRAMES) for a in self.animals}
        self._confidence: dict[int, tuple[float, int]] = {}  # track id -> (summed score, frames seen)
        # this frame's close calls (``frame, animal, cost, margin``), made or left out, for the review
        self.close_calls: list[dict] = []

    def assign(self, frame: int, tracked: list[TrackedBox]) -> dict[int, int]:
        """Identity -> index into ``tracked`` of its box on ``frame``; frames come in order."""
        for box in tracked:
            total, count = self._confidence.get(box.track_id, (0.0, 0))
            self._confidence[box.track_id] = (total + box.score, count + 1)
        self.close_calls = []
        chosen, unclear = self._clear_assignment(frame, tracked) if tracked else ({}, set())
        for index, box in enumerate(tracked):
            if index not in chosen.values() and box.confirmed:
                self._take_over_or_ignore(index, box, chosen, tracked, frame, extra=index not in unclear)
        for identity, index in chosen.items():
            self._hold(identity, tracked[index])
        return chosen

    def _clear_assignment(self, frame, tracked) -> tuple[dict[int, int], set[int]]:
        """Identity -> box index for the clear pairs of the best assignment, and the boxes of the pairs
        left out as unclear."""
        boxes = np.array([t.box for t in tracked], float)
        cost, _ = pair_costs(self.last_box, dict.fromkeys(self.animals), boxes, max_distance=self.max_distance)
        areas = np.array([box_area(t.box) for t in tracked])
        for row, identity in enumerate(self.animals):
            if self.last_box[identity] is None:  # never seen: the most confident boxes first
                cost[row] -= 0.1 * np.array([t.score for t in tracked])
                continue
            cost[row, ~self._usual_size(identity, areas)] = UNREACHABLE
            for column, box in enumerate(tracked):
                if self.holder.get(identity) == box.track_id and cost[row, column] < UNREACHABLE:
                    cost[row, column] -= HOLD_BONUS
        rows, columns = linear_sum_assignment(cost)
        pairs = [(r, c) for r, c in zip(rows, columns) if cost[r, c] < UNREACHABLE]
        clear = []
        for r, c in pairs:
            if self.last_box[self.animals[r]] is None:
                clear.append((r, c))
                continue
            margin = assignment_margin(cost, pairs, r, rows_left_over=True)
            if margin < KEPT_MARGIN:
                self.close_calls.append({"frame": int(frame), "animal": self.animals[r],
                                         "cost": round(float(cost[r, c]), 4), "margin": round(margin, 4)})
            if margin >= CLEAR_MARGIN:
                clear.append((r, c))
        return {self.animals[r]: int(c) for r, c in clear}, {int(c) for _, c in pairs} - {int(c) for _, c in clear}

    def _usual_size(self, identity: int, areas: np.ndarray) -> np.ndarray:
        """Which of the box ``areas`` are within `SIZE_RATIO` of the identity's usual area."""
        if not self._areas[identity]:
            return np.ones(len(areas), bool)
        ratio = areas / max(float(np.median(self._areas[identity])), 1.0)
        return (1 / SIZE_RATIO <= ratio) & (ratio <= SIZE_RATIO)

    def _take_over_or_ignore(self, index, box: TrackedBox, chosen, tracked, frame, extra: bool) -> None:
        if box.track_id in self.holder.values():
            return  # an identity's own track, left out on an unclear frame: it takes no other identity
        weakest = min(
            (a for a in self.animals if a in self.holder),
            key=lambda a: self._mean_confidence(self.holder[a]), default=None,
        )
        if weakest is not None and self._takes_over(box.track_id, self.holder[weakest]):
            self.holder[weakest] = box.track_id  # held from now: the bonus follows the new track
            displaced = chosen.get(weakest)
            chosen[weakest] = index
            if displaced is not None:
                self._ignore(tracked[displaced].track_id, frame)
            return
        if extra:  # a box left out on an unclear frame is no extra object
            self._ignore(box.track_id, frame)

    def _hold(self, identity: int, box: TrackedBox) -> None:
        self.holder = {a: t for a, t in self.holder.items() if t != box.track_id}  # one identity per track
        self.holder[identity] = box.track_id
        self.last_box[identity] = np.asarray(box.box, float)
        self._areas[identity].append(box_area(box.box))

    def _mean_confidence(self, track_id: int) -> float:
        total, count = self._confidence.get(track_id, (0.0, 1))
        return total / count

    def _takes_over(self, track_id: int, holder: int) -> bool:
        return (self._confidence[track_id][1] >= TAKEOVER_FRAMES
                and self._mean_confidence(track_id) >= self._mean_confidence(holder) + TAKEOVER_MARGIN)

    def _ignore(self, track_id: int, frame: int) -> None:
        ignored = self.ignored.setdefault(track_id, IgnoredTrack(frame, frame))
        ignored.last = frame
