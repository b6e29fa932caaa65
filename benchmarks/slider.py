"""How long a step of napari's time slider takes, idle and while the widget tracks, in one run.

    xvfb-run -a .venv/bin/python benchmarks/slider.py [--video PATH] [--steps 40] [--rounds 3]

A real viewer (shown, so every step is drawn) opens the video through this plugin, the "Track animals"
widget gets the two-mice prompts, and each step moves ``viewer.dims`` to another frame, lets Qt handle
what is queued and repaints the canvas, as a drag of the slider does. The same frames are stepped
through idle, while the widget tracks the whole video (restarted with *start over* when it ends) as it
does now (a tracked frame reported at most every `TrackWidget.frame_interval_s`, the tracking thread at
a lower priority), reporting every frame at a lower priority, and as before both (every frame reported,
normal priority). The four take turns, ``--rounds`` times, so that other work on the
machine falls on all of them alike. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_sam2_longvideo._napari import _worker

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = [(0, 60, 185, 1), (0, 250, 275, 2)]


def step_times(viewer, frames: list[int], keep_going=None) -> list[float]:
    """Seconds per step: move the slider, handle the events, draw the canvas."""
    canvas = viewer.window._qt_viewer.canvas.native
    times = []
    for frame in frames:
        if keep_going is not None:
            keep_going()
        started = time.perf_counter()
        viewer.dims.set_current_step(0, frame)
        QApplication.processEvents()
        canvas.repaint()
        QApplication.processEvents()
        times.append(time.perf_counter() - started)
    return times


def summary(name: str, times: list[float]) -> str:
    ms = np.array(times) * 1000
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.0f} | {np.percentile(ms, 90):.0f} | "
            f"{ms.max():.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VIDEO))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="contrast")
    args = parser.parse_args()

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1280, 900)
    viewer.open(args.video, plugin="napari-sam2-longvideo")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-sam2-longvideo", "Track animals")
    points = widget.make_prompts_layer()
    points.add([[f, y, x] for f, y, x, _a in PROMPTS])
    points.features["animal"] = [a for *_, a in PROMPTS]
    widget.form.widgets["backend"].value = args.backend
    out = Path(tempfile.mkdtemp(prefix="slider-")) / "run"
    widget.out.value = out
    total = viewer.layers[0].data.shape[0]
    rng = np.random.default_rng(0)
    frames = [int(t) for t in rng.integers(0, total, args.steps)]  # jumps, as a drag across the slider
    step_times(viewer, frames[:5])  # warm-up: the first draws compile shaders

    thinned = widget.frame_interval_s

    def keep_tracking():
        if widget.worker is None:
            widget.overwrite.value = True
            widget.track()
            for _ in range(20):  # past the worker's start-up
                QApplication.processEvents()
                time.sleep(0.01)

    def finish():
        while widget.worker is not None:
            QApplication.processEvents()
            time.sleep(0.05)

    niceness = _worker.NICENESS
    variants = {  # name: (frame interval, niceness of the tracking thread)
        "idle": None,
        f"while tracking, now (a frame reported per {thinned} s, nice +{niceness})": (thinned, niceness),
        f"while tracking, every frame reported, nice +{niceness}": (0.0, niceness),
        "while tracking, as before (every frame reported, normal priority)": (0.0, 0),
    }
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, variant in variants.items():
            if variant is None:
                times[name] += step_times(viewer, frames)
                continue
            widget.frame_interval_s, _worker.NICENESS = variant
            times[name] += step_times(viewer, frames, keep_tracking)
            finish()
    print(f"video: {args.video} ({total} frames), backend {args.backend}, {args.rounds} rounds of "
          f"{args.steps} steps each\n")
    print("| slider | steps | median ms | 90th percentile ms | worst ms |")
    print("|---|---:|---:|---:|---:|")
    for name, measured in times.items():
        print(summary(name, measured))
    idle = statistics.median(times["idle"])
    print("\nmedian / idle median: " + ", ".join(
        f"{name}: {statistics.median(measured) / idle:.2f}" for name, measured in times.items()), flush=True)
    viewer.close()


if __name__ == "__main__":
    main()
