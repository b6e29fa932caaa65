"""The review plot with a 100k-frame run: what it draws is decimated, peaks kept, and following the time
slider moves the marker without drawing the lines again (timings: docs/benchmarks.md, not asserted tight)."""

from __future__ import annotations

import time

import numpy as np

from napari_sam2_longvideo._napari._review_data import (
    DRAWN_COLUMNS,
    animal_series,
    decimate,
    episode_columns,
    tracks_data,
)
from napari_sam2_longvideo._napari._review_plot import ReviewPlot
from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.engine.review import Episode, find_episodes


def synthetic_records(frames: int, animals: int = 2, seed: int = 0) -> np.ndarray:
    """A random walk per animal, lost now and then, one spike of area on frame 77_777."""
    rng = np.random.default_rng(seed)
    records = np.zeros(frames * animals, TRACK_DTYPE)
    records["frame"] = np.repeat(np.arange(frames), animals)
    records["animal"] = np.tile(np.arange(1, animals + 1), frames)
    records["centroid_y"] = 100 + np.cumsum(rng.normal(0, 1, len(records)))
    records["centroid_x"] = 100 + np.cumsum(rng.normal(0, 1, len(records)))
    records["area"] = rng.integers(400, 600, len(records))
    records["score"] = rng.uniform(0.3, 1, len(records)).astype(np.float32)
    records["lost"] = rng.random(len(records)) < 0.001
    records["merged"] = rng.random(len(records)) < 0.002
    records["area"][(records["frame"] == 77_777) & (records["animal"] == 1)] = 5000
    records["lost"][(records["frame"] == 77_777) & (records["animal"] == 1)] = False
    return records


def test_decimation_keeps_every_peak_within_a_few_thousand_points():
    values = np.zeros(100_000)
    values[77_777], values[3] = 9.0, -4.0
    values[50_000:50_010] = np.nan
    x, y = decimate(values)
    assert len(x) == len(y) <= 2 * DRAWN_COLUMNS
    assert np.nanmax(y) == 9.0 and np.nanmin(y) == -4.0
    assert abs(x[np.nanargmax(y)] - 77_777) < 100_000 / DRAWN_COLUMNS
    assert x[0] == 0 and x[-1] == 99_999 and np.all(np.diff(x) >= 0)
    short = np.arange(10.0)
    np.testing.assert_array_equal(decimate(short)[1], short)  # a short series is drawn whole


def test_episodes_shade_the_columns_they_touch_however_short():
    episodes = [Episode(77_777, 77_777, (1,), "lost", 1.0), Episode(10, 20, (1, 2), "merged", 1.0),
                Episode(0, 99_999, (2,), "low_score", 1.0)]
    shaded = episode_columns(episodes, 100_000)
    edges, inside = shaded["lost"]
    assert len(edges) == len(inside) == DRAWN_COLUMNS + 1 and edges[-1] == 100_000
    assert np.flatnonzero(inside).tolist() == [77_777 // 50]  # 50 frames a column
    assert np.flatnonzero(shaded["merged"][1]).tolist() == [0]
    assert shaded["low_score"][1][:-1].all()
    edges, inside = episode_columns([Episode(3, 4, (1,), "lost", 1.0)], 10)["lost"]  # short: a column a frame
    assert edges.tolist() == list(range(11)) and np.flatnonzero(inside).tolist() == [3, 4]


def test_series_are_nan_where_lost_and_speed_is_the_centroids_step():
    records = synthetic_records(50)
    first = animal_series(records, 50)[0]
    mine = records[records["animal"] == 1]
    assert np.array_equal(np.isnan(first.area), mine["lost"])
    t = next(t for t in range(1, 50) if not mine["lost"][t] and not mine["lost"][t - 1])
    step = np.hypot(*(mine[c][t] - mine[c][t - 1] for c in ("centroid_y", "centroid_x")))
    assert np.isclose(first.speed[t], step)
    assert len(tracks_data(records)) == np.count_nonzero(~records["lost"])


def test_a_100k_frame_run_draws_decimated_and_the_marker_follows_the_slider_cheaply(qtbot):
    frames = 100_000
    records = synthetic_records(frames)
    plot = ReviewPlot()
    qtbot.addWidget(plot)
    plot.resize(500, 400)
    plot.show()
    began = time.perf_counter()
    plot.show_series(animal_series(records, frames), find_episodes(records), frames)
    plot.canvas.draw()
    drawn = time.perf_counter() - began
    for line in plot.lines.values():
        assert len(line.get_xdata()) <= 2 * DRAWN_COLUMNS
    assert np.nanmax(plot.lines[1, "area"].get_ydata()) == 5000  # the one-frame spike still shows

    calls = []
    plot.canvas.draw = lambda *a, **k: calls.append("draw")  # a frame change must not redraw the figure
    began = time.perf_counter()
    for frame in range(0, frames, 1000):
        plot.set_frame(frame)
    per_step = (time.perf_counter() - began) / 100
    assert calls == []
    assert plot.markers[0].get_xdata()[0] == 99_000
    assert per_step < 0.5, per_step  # "well under a second"; the measured time is in docs/benchmarks.md
    print(f"draw {drawn:.3f} s, marker move {per_step * 1000:.2f} ms")
