"""A correction against the run it corrects: time of ``correct`` (a click at frame 900) and of ``swap``,
``undo`` and the full run, in one process, on the 360p two-mice clip.

    .venv/bin/python benchmarks/correction.py [--backend contrast|sam2] [--max-frames N] [--frame 900]
                                              [--repeats 3]

The run is tracked once into a temporary folder (timed). Then, ``--repeats`` times each and undone after
each: a click on animal 1 where it already is on ``--frame`` (re-tracked until the old result is
rejoined), the same with ``--to-end``, and ``swap 1 2 --from 600``. Each correction's time is the one
``corrections.jsonl`` records (lock, backups, re-track, rewriting labels.tif and tracks.csv); the export
alone is timed too. SAM2 runs with random weights at 256 px on the CPU (``--backend sam2``). Prints a
Markdown table of medians for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_sam2_longvideo.corrections import correct_run, swap_animals, undo_last
from napari_sam2_longvideo.engine.corrections import RejoinSettings
from napari_sam2_longvideo.io.export import write_labels_tiff, write_tracks_csv
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
CLICKS = [(0, 60, 185, 1, True), (0, 250, 275, 2, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("contrast", "sam2"), default="contrast")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--frame", type=int, default=900)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = TrackSettings(backend=args.backend, max_frames=args.max_frames, device="cpu")
    if args.backend == "sam2":
        settings = TrackSettings(backend="sam2", random_weights=True, image_size=256, device="cpu",
                                 max_frames=args.max_frames)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        began = time.perf_counter()
        for _ in run_tracking(str(VIDEO), Prompts(CLICKS), settings, out):
            pass
        full = time.perf_counter() - began
        store = LabelStore.open(out, read_only=True)
        frames = store.shape[0]
        labels = store[args.frame]
        ys, xs = np.nonzero(labels == 1)
        i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        click = Prompts([(args.frame, float(ys[i]), float(xs[i]), 1, True)], "click")

        rows = [("full run", frames, full)]
        for name, rejoin in (("correct (click, until rejoined)", RejoinSettings()),
                             ("correct --to-end", RejoinSettings(to_end=True))):
            times, counts = [], []
            for _ in range(args.repeats):
                entry = list(correct_run(out, click, rejoin))[-1].entry
                times.append(entry["seconds"])
                counts.append(entry["frames_retracked"])
                undo_last(out)
            rows.append((f"{name} at {args.frame}", statistics.median(counts), statistics.median(times)))
        swaps = []
        for _ in range(args.repeats):
            swaps.append(swap_animals(out, 1, 2, min(600, frames - 1))["seconds"])
            undo_last(out)
        rows.append((f"swap 1 2 --from {min(600, frames - 1)}", 0, statistics.median(swaps)))
        exports = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            write_labels_tiff(store, Path(folder) / "labels.tif")
            write_tracks_csv(store.records(), Path(folder) / "tracks.csv")
            exports.append(time.perf_counter() - started)
        rows.append(("writing labels.tif + tracks.csv whole (for comparison)", 0, statistics.median(exports)))

    print(f"| {args.backend}, {frames} frames | frames re-tracked | seconds | share of the full run |")
    print("|---|---:|---:|---:|")
    for name, count, seconds in rows:
        print(f"| {name} | {count} | {seconds:.2f} | {seconds / full:.1%} |")


if __name__ == "__main__":
    main()
