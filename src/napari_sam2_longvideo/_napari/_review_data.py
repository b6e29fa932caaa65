"""What the review panel shows, as plain arrays: per-animal series over the video, and their decimation.

No Qt here, so the numbers the plot draws are testable alone. A series has one value per frame of the
video (NaN where the animal is lost or the frame has no record), so frame ``t`` is index ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What the plot draws per animal, in order, with the unit shown on its axis.
QUANTITIES = (("speed", "speed (px/frame)"), ("area", "area (px)"), ("score", "score"))
# Points drawn per line at most: about one min/max pair per pixel column of a wide plot.
DRAWN_COLUMNS = 2000


@dataclass(frozen=True)
class AnimalSeries:
    """One animal's ``speed``, ``area`` and ``score`` on every frame (NaN where it is lost)."""

    animal: int
    speed: np.ndarray
    area: np.ndarray
    score: np.ndarray


def animal_series(records: np.ndarray, num_frames: int) -> list[AnimalSeries]:
    """Per-animal series of ``records`` (`TRACK_DTYPE`, any order) over ``num_frames`` frames.

    Speed is the centroid's displacement since the frame before, in pixels per frame; it is NaN on a
    frame where the animal, or the frame before it, is lost.
    """
    series = []
    for animal in np.unique(records["animal"]).tolist():
        rows = records[(records["animal"] == animal) & ~records["lost"]]
        frames = rows["frame"]
        area, score, y, x = (np.full(num_frames, np.nan) for _ in range(4))
        area[frames], score[frames] = rows["area"], rows["score"]
        y[frames], x[frames] = rows["centroid_y"], rows["centroid_x"]
        speed = np.full(num_frames, np.nan)
        speed[1:] = np.hypot(np.diff(y), np.diff(x))  # NaN wherever either frame is NaN
        series.append(AnimalSeries(int(animal), speed, area, score))
    return series


def decimate(values: np.ndarray, columns: int = DRAWN_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` to draw ``values`` (one per frame) with at most ``2 * columns`` points, peaks kept.

    Each column of ``ceil(len / columns)`` frames becomes two points, its minimum and its maximum (NaN
    ignored; a column of NaN stays NaN, a gap in the line): a one-frame spike of a 100k-frame series
    still shows, as it would if every frame were drawn. Short series come back whole.
    """
    values = np.asarray(values, float)
    count = len(values)
    if count <= 2 * columns:
        return np.arange(count, dtype=float), values
    width = -(-count // columns)  # frames per column, rounded up
    padded = np.full(width * (-(-count // width)), np.nan)
    padded[:count] = values
    blocks = padded.reshape(-1, width)
    low, high = np.fmin.reduce(blocks, axis=1), np.fmax.reduce(blocks, axis=1)
    starts = np.arange(len(blocks), dtype=float) * width
    x = np.column_stack([starts, starts + width - 1]).ravel()
    y = np.column_stack([low, high]).ravel()
    return np.minimum(x, count - 1), y


def episode_columns(episodes, num_frames: int, columns: int = DRAWN_COLUMNS) -> dict[str, tuple]:
    """``{reason: (edges, inside)}``: the frames cut into at most ``columns`` columns, ``edges`` their
    starts (and the end), ``inside`` whether an episode of that reason touches each column (and a last
    False), as matplotlib's ``fill_between(..., where=inside, step="post")`` takes them.

    A one-frame episode in 100k frames still shades its column, and the plot draws a few thousand
    rectangles however many episodes there are.
    """
    width = max(1, -(-num_frames // columns))
    count = -(-num_frames // width)
    edges = np.minimum(np.arange(count + 1) * width, num_frames).astype(float)
    shaded = {}
    for reason in dict.fromkeys(e.reason for e in episodes):
        starts = np.array([e.start for e in episodes if e.reason == reason]) // width
        stops = np.array([e.stop for e in episodes if e.reason == reason]) // width
        depth = np.zeros(count + 1, int)  # +1 where a stretch of columns begins, -1 after it ends
        np.add.at(depth, starts, 1)
        np.add.at(depth, stops + 1, -1)
        inside = np.cumsum(depth) > 0
        inside[-1] = False
        shaded[reason] = (edges, inside)
    return shaded


def tracks_data(records: np.ndarray) -> np.ndarray:
    """napari Tracks data ``(animal, frame, y, x)`` of every frame where an animal is seen, by animal
    then frame (the order napari wants)."""
    seen = records[~records["lost"]]
    order = np.lexsort((seen["frame"], seen["animal"]))
    seen = seen[order]
    return np.column_stack([seen["animal"], seen["frame"], seen["centroid_y"], seen["centroid_x"]]).astype(float)
