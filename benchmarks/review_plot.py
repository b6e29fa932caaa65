"""Time the review plot on a 100k-frame run: building the series, the first draw, and a frame change.

    xvfb-run -a .venv/bin/python benchmarks/review_plot.py [--frames 100000] [--animals 2]

A frame change is timed twice: the plot's own ``set_frame`` (restore the saved bitmap, draw the marker
lines, blit), and ``viewer.dims.set_current_step`` in a real napari viewer showing a lazy 100k-frame
Labels layer with the plot following the slider (napari's own slicing and drawing included).
With ``--panel`` the whole "Review and correct" widget is timed instead, on a run folder of that many
frames written for it (small 36x64 frames, the synthetic records): opening the run (`show_run`: the
episodes, the table, the plot, the Tracks layer) and a frame change.
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
    parser.add_argument("--panel", action="store_true", help="time the whole widget on a run folder")
    args = parser.parse_args()
    if args.panel:
        return time_panel(args.frames, args.animals)

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


def time_panel(frames: int, animals: int) -> None:
    import tempfile
    from pathlib import Path

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_sam2_longvideo.core.chunks import chunk_plan
    from napari_sam2_longvideo.io.store import LabelStore
    from tests.napari.test_review_plot import synthetic_records

    records = synthetic_records(frames, animals)
    with tempfile.TemporaryDirectory() as folder:
        store = LabelStore.create(Path(folder), (frames, 36, 64), np.uint8, chunk_plan(frames, 1000))
        for chunk in store.chunks:
            ours = (records["frame"] >= chunk.start) & (records["frame"] < chunk.stop)
            store.write_chunk(chunk, np.zeros((len(chunk), 36, 64), np.uint8), records[ours])
        viewer = napari.Viewer(show=True)
        _dock, panel = viewer.window.add_plugin_dock_widget("napari-sam2-longvideo", "Review and correct")
        QApplication.processEvents()
        began = time.perf_counter()
        panel.show_run(Path(folder))
        panel.plot.canvas.draw()
        QApplication.processEvents()
        opened = time.perf_counter() - began
        steps = range(0, frames, max(frames // 200, 1))
        began = time.perf_counter()
        for frame in steps:
            viewer.dims.set_current_step(0, frame)
            QApplication.processEvents()
        per_step = (time.perf_counter() - began) / len(steps)
        print(f"{frames} frames, {animals} animals, {len(panel.episodes)} episodes")
        print(f"{'show_run (episodes, table, plot, tracks) + draw':<52} {opened * 1000:9.2f} ms")
        print(f"{'viewer.dims.set_current_step + events, per frame':<52} {per_step * 1000:9.2f} ms")
        viewer.close()


if __name__ == "__main__":
    main()
