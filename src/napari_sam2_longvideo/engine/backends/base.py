"""The small protocol every segmentation backend implements; the tracker knows nothing else of them.

A backend starts a *session* on a window of frames. The caller puts prompts (points, boxes, masks) for
animals on frames of that window, then asks the session to propagate forward or backward from a frame;
the session yields one `FramePrediction` per frame. Frame numbers are always those of the whole video.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ...io.source import FrameSource


@dataclass
class FramePrediction:
    """What a backend saw on one frame.

    Parameters
    ----------
    frame : int
        Frame index in the whole video.
    animal_ids : tuple of int
        The animals, in the order of the first axis of ``logits``.
    logits : numpy.ndarray or None
        ``(N, H, W)`` float32 at the video's resolution; a pixel belongs to an animal where its logit is
        above 0, and where several claim it the highest logit wins. None where ``claims`` gives them.
    scores : numpy.ndarray
        ``(N,)`` float in [0, 1]: the backend's confidence that each animal is visible.
    bounds : numpy.ndarray, optional
        ``(N, 4)`` int ``x0, y0, x1, y1`` (ends excluded): each animal's logits are at most 0 outside
        its bounds, so the tracker looks only there. A backend that knows where its masks are (the
        contrast backend) saves the tracker a pass over whole frames; None means anywhere.
    claims : tuple, optional
        The logits, for a backend whose masks are a few sets of pixels (the contrast backend), instead
        of ``logits``: per animal, ``(pixels, logit)`` pairs of flat pixel indices (each set without
        repeats) and a logit above 0. An animal's logit at a pixel is the largest of its pairs that
        hold the pixel, and at most 0 where none does. The tracker then works on those pixels alone,
        not on N float32 frames made and scanned for every frame (`overlaps.resolve_claims`).
    """

    frame: int
    animal_ids: tuple[int, ...]
    logits: np.ndarray | None
    scores: np.ndarray
    bounds: np.ndarray | None = None
    claims: tuple[tuple[tuple[np.ndarray, float], ...], ...] | None = None

    def dense_logits(self, height: int, width: int) -> np.ndarray:
        """``logits``, made from ``claims`` where the backend gave those (0 counts as not claimed)."""
        if self.logits is not None:
            return self.logits
        logits = np.zeros((len(self.animal_ids), height * width), np.float32)
        for row, pairs in enumerate(self.claims):
            for pixels, logit in sorted(pairs, key=lambda pair: pair[1]):  # an animal's largest written last
                logits[row, pixels] = logit
        return logits.reshape(len(self.animal_ids), height, width)

    def bounds_or_frame(self, height: int, width: int) -> np.ndarray:
        """``bounds``, or the whole frame for every animal where the backend gave none."""
        if self.bounds is not None:
            return self.bounds
        return np.tile(np.array([0, 0, width, height]), (len(self.animal_ids), 1))


@runtime_checkable
class BackendSession(Protocol):
    """Prompts and propagation on the frames ``start`` to ``stop - 1`` of a video."""

    start: int
    stop: int

    def add_points(self, frame: int, animal: int, points_yx: np.ndarray, positive: np.ndarray) -> None:
        """Prompt ``animal`` on ``frame`` with points ``(K, 2)`` in pixels of the video, ``(y, x)``."""

    def add_box(self, frame: int, animal: int, box_xyxy: np.ndarray) -> None:
        """Prompt ``animal`` on ``frame`` with a box ``(x0, y0, x1, y1)`` in pixels of the video."""

    def add_mask(self, frame: int, animal: int, mask: np.ndarray) -> None:
        """Prompt ``animal`` on ``frame`` with a boolean mask ``(H, W)`` at the video's resolution."""

    def propagate(self, from_frame: int, reverse: bool = False) -> Iterator[FramePrediction]:
        """Yield predictions from ``from_frame`` to the end (or, with ``reverse``, to the start)."""

    def close(self) -> None:
        """Free everything the session holds."""


@runtime_checkable
class SegmentationBackend(Protocol):
    """Makes sessions; `describe` says what ran, for ``run.json``; `close` frees what sessions shared.

    A backend may also have ``preparing() -> str | None``: the slow work its first session does before
    its first frame ("learning the floor from the video"), which the run reports as a `Preparing` event.
    """

    name: str

    def start_session(self, frames: FrameSource, start: int, stop: int) -> BackendSession: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...
