"""Doubtful episodes of a run, worst first: where a person should look before trusting the result.

The per-frame records (`TRACK_DTYPE`) flag each animal on each frame as lost, merged, jumped or
re-anchored, and carry the backend's score. An *episode* is a stretch of consecutive frames with one
reason: per animal for ``lost``, ``low_score`` and ``reanchored``; for ``merged`` and ``jumped``, which
concern two animals at once (two masks that overlap; two masks that leap onto each other, the sign of a
swap), the overlapping stretches of all animals are one episode listing them all. Flags a few frames
apart (up to `GAP` frames between) belong to one episode, so a flickering flag is one row, not twenty.

A detector-prompted run also keeps the identity assignment it made where a detector's boxes met the
animals (chunk starts, and the search for a lost animal): each match's ``margin``, how much dearer the
assignment would have been with this animal's box exchanged for its rival's (`detection.assignment`).
A margin below `CLOSE_MARGIN` is a close call, one episode per frame (``close_assignment``), listing the
animals that were close.

Score (higher is worse)::

    score = WEIGHTS[reason] * animals * (1 + log2(frames))

``animals`` is how many animals the episode holds, ``frames`` its length. A swap (two animals jumping on
one frame) outranks a single jump; a long loss outranks a short one, but a hundred-frame stretch is not
worth a hundred one-frame ones (logarithm). The weights say how often each reason hides an identity
mistake: a jump is a mask leaping onto another animal, a loss leaves an animal to be found again (by
whatever is nearest), a merge decides pixels by score alone; a low score or a detector's re-anchoring
are often harmless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REASONS = ("jumped", "close_assignment", "lost", "merged", "low_score", "reanchored")
WEIGHTS = {"jumped": 3.0, "close_assignment": 2.5, "lost": 2.5, "merged": 2.0, "low_score": 1.0, "reanchored": 1.0}
SHARED_REASONS = ("jumped", "merged")  # one episode for all the animals flagged at once
LOW_SCORE = 0.5  # a seen animal whose backend score is below this is doubtful
GAP = 2  # flagged frames at most this many frames apart are one episode
# An assignment margin below this (costs lie between 0 and 2: a pair's 1 - IoU plus its distance over the
# gate) is a close call: about an eighth of the cost between a box on the animal and one beside it.
CLOSE_MARGIN = 0.25


@dataclass(frozen=True)
class Episode:
    """Frames ``start`` to ``stop`` (both included) where ``animals`` are doubtful for ``reason``."""

    start: int
    stop: int
    animals: tuple[int, ...]
    reason: str
    score: float

    @property
    def frames(self) -> int:
        return self.stop - self.start + 1


def find_episodes(
    records: np.ndarray, low_score: float = LOW_SCORE, gap: int = GAP, assignments=(),
    close_margin: float = CLOSE_MARGIN,
) -> list[Episode]:
    """The doubtful episodes of ``records``, worst first (ties: earliest first, then by reason).

    Parameters
    ----------
    records : numpy.ndarray
        Per-frame records of ``TRACK_DTYPE``, any order.
    low_score : float
        A seen animal's score below this makes the frame doubtful (``low_score``).
    gap : int
        Flagged frames of one animal at most ``gap`` frames apart are one episode.
    assignments : iterable of dict
        The run's identity assignments (``frame``, ``animal``, ``cost``, ``margin``; `LabelStore.assignments`).
    close_margin : float
        An assignment whose margin is below this is a ``close_assignment`` episode.
    """
    flags = {
        "jumped": records["jumped"],
        "lost": records["lost"],
        "merged": records["merged"],
        "low_score": ~records["lost"] & (records["score"] < low_score),
        "reanchored": records["reanchored"],
    }
    episodes = _close_assignments(assignments, close_margin)
    for reason in REASONS:
        if reason == "close_assignment":
            continue
        stretches = []  # (start, stop, animals)
        for animal in np.unique(records["animal"]).tolist():
            frames = np.unique(records["frame"][flags[reason] & (records["animal"] == animal)])
            stretches += [(s, e, (animal,)) for s, e in _runs(frames, gap)]
        if reason in SHARED_REASONS:
            stretches = _union(stretches, gap)
        episodes += [Episode(s, e, a, reason, _score(reason, len(a), e - s + 1)) for s, e, a in stretches]
    return sorted(episodes, key=lambda e: (-e.score, e.start, REASONS.index(e.reason), e.animals))


def _close_assignments(assignments, close_margin: float) -> list[Episode]:
    """One episode per frame whose assignment was a close call, with the animals that were close."""
    close: dict[int, set[int]] = {}
    for row in assignments:
        if row.get("margin") is not None and row["margin"] < close_margin:
            close.setdefault(int(row["frame"]), set()).add(int(row["animal"]))
    reason = "close_assignment"
    return [Episode(f, f, tuple(sorted(a)), reason, _score(reason, len(a), 1)) for f, a in sorted(close.items())]


def _score(reason: str, animals: int, frames: int) -> float:
    return round(WEIGHTS[reason] * animals * (1 + math.log2(frames)), 3)


def _runs(frames: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Sorted distinct ``frames`` as ``(start, stop)`` stretches whose holes are at most ``gap`` frames."""
    if not len(frames):
        return []
    breaks = np.flatnonzero(np.diff(frames) > gap + 1)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [len(frames) - 1]])
    return [(int(frames[a]), int(frames[b])) for a, b in zip(starts, stops)]


def _union(stretches, gap: int):
    """Stretches of several animals that overlap (or are at most ``gap`` apart) as one, with all of them."""
    joined = []
    for start, stop, animals in sorted(stretches):
        if joined and start <= joined[-1][1] + gap + 1:
            last = joined[-1]
            joined[-1] = (last[0], max(last[1], stop), tuple(sorted(set(last[2]) | set(animals))))
        else:
            joined.append((start, stop, animals))
    return joined
