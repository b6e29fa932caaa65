"""Time the review plot on a 100k-frame run: building the series, the first draw, and a frame change.

    xvfb-run -a .venv/bin/python benchmarks/review_plot.py [--frames 100000] [--animals 2]

A frame change is timed twice: the plot's own ``set_frame`` (restore the saved bitmap, draw the marker
lines, blit), and ``viewer.dims.set_current_step`` in a real napari viewer showing a lazy 100k-frame
Labels layer with the plot following the slider (napari's own slicing and drawing included).
"""

from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--animals", type=int, default=2)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_sam2_longvideo._napari._review_data import animal_series
    from napari_sam2_longvideo._napari._review_plot import ReviewPlot
    from napari_sam2_longvideo.engine.review import find_episodes
    from tests.napari.test_review_plot import synthetic_records

    records = synthetic_records(args.frames, args.animals)
    timings = {}
    began = time.perf_counter()
    episodes = find_episodes(records)
    timings["find_episodes"] = time.perf_counter() - began
    began = time.perf_counter()
    series = animal_series(records, args.frames)
    timings["animal_series"] = time.perf_counter() - began

    viewer = napari.Viewer(show=True)
    viewer.add_labels(da.zeros((args.frames, 360, 640), dtype=np.uint8, chunks=(1, 360, 640)))
    plot = ReviewPlot(on_frame=lambda t: viewer.dims.set_current_step(0, t))
    viewer.window.add_dock_widget(plot, area="right")
    viewer.dims.events.current_step.connect(lambda event: plot.set_frame(viewer.dims.current_step[0]))
    QApplication.processEvents()
    began = time.perf_counter()
    plot.show_series(series, episodes, args.frames)
    plot.canvas.draw()
    timings["show_series + draw"] = time.perf_counter() - began

    steps = range(0, args.frames, max(args.frames // 200, 1))
    began = time.perf_counter()
    for frame in steps:
        plot.set_frame(frame)
    timings["set_frame (blit), per frame"] = (time.perf_counter() - began) / len(steps)
    began = time.perf_counter()
    for frame in steps:
        viewer.dims.set_current_step(0, frame)
        QApplication.processEvents()
    timings["viewer.dims.set_current_step + events, per frame"] = (time.perf_counter() - began) / len(steps)

    print(f"{args.frames} frames, {args.animals} animals, {len(episodes)} episodes")
    for name, seconds in timings.items():
        print(f"{name:<52} {seconds * 1000:9.2f} ms")
    viewer.close()


if __name__ == "__main__":
    main()
