"""Frames per second of the no-click mode (detector + tracker + masks) against the click-prompted mode.

    .venv/bin/python benchmarks/detector_modes.py [--frames 300] [--backend contrast|sam2] [--image-size 256]

Both modes run the engine the command line runs (`run_tracking`), in one process, on the same first
``--frames`` frames of the real two-mice clip, with the same backend:

- clicks: the clip's two prompts (``--prompts``), the animals carried from chunk to chunk;
- linked: ``--detections boxes.csv --link bytetrack --animals 2``, the boxes taken from the click run's
  labels as the tests take them (shuffled, 10% missed, a false box on a third of the frames).

Inside the linked run every call of the detector (the boxes file, looked up by frame), of ultralytics'
``BYTETracker.update`` and of the whole linking (`BoxLinker.link`: detector, tracker and the identity
assignment) is timed; the masks are the rest. A boxes file costs almost nothing to look up, so a YOLO11n
built from its yaml (speed does not depend on the weights) is also timed on the same frames at 640 px,
to show what a real detector would add. Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import tifffile  # noqa: E402

from napari_sam2_longvideo.engine.detection import linking  # noqa: E402
from napari_sam2_longvideo.engine.detection.box_file import BoxFileDetector  # noqa: E402
from napari_sam2_longvideo.io.detections import write_detections_csv  # noqa: E402
from napari_sam2_longvideo.io.frames import open_frames  # noqa: E402
from napari_sam2_longvideo.io.prompts import Prompts  # noqa: E402
from napari_sam2_longvideo.run import run_tracking  # noqa: E402
from napari_sam2_longvideo.settings import TrackSettings  # noqa: E402
from napari_sam2_longvideo.testing.linked_boxes import boxes_from_labels  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = [(0, 60, 185, 1, True), (0, 250, 275, 2, True)]


class Timer:
    """Seconds and calls spent in the functions it wraps."""

    def __init__(self):
        self.seconds, self.calls = {}, {}

    def wrap(self, name, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


def timed_run(video, prompts, settings, out) -> float:
    started = time.perf_counter()
    for _ in run_tracking(video, prompts, settings, out):
        pass
    return time.perf_counter() - started


def yolo_seconds(frames, count: int) -> float:
    """Seconds a YOLO11n (from its yaml) takes to look at ``count`` frames at 640 px on this device."""
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml", task="detect")
    device = settings_device()
    model.predict(np.ascontiguousarray(frames.read(0)[..., ::-1]), imgsz=640, device=device, verbose=False)  # warm-up
    started = time.perf_counter()
    for t in range(count):
        model.predict(np.ascontiguousarray(frames.read(t)[..., ::-1]), imgsz=640, conf=0.5, device=device,
                      verbose=False)
    return time.perf_counter() - started


def settings_device() -> str:
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--backend", choices=("contrast", "sam2"), default="contrast")
    parser.add_argument("--image-size", type=int, default=256, help="SAM2's (random weights)")
    parser.add_argument("--chunk-size", type=int, default=100)
    args = parser.parse_args()
    if not VIDEO.exists():
        sys.exit(f"{VIDEO} is missing")
    common = dict(backend=args.backend, max_frames=args.frames, chunk_size=args.chunk_size)
    if args.backend == "sam2":
        common.update(random_weights=True, image_size=args.image_size)
    timer = Timer()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        clicks = timed_run(VIDEO, Prompts(PROMPTS, source="clip README"), TrackSettings(**common), root / "clicks")
        labels = tifffile.imread(root / "clicks" / "labels.tif")
        boxes = write_detections_csv(root / "boxes.csv", boxes_from_labels(labels))
        BoxFileDetector.detect = timer.wrap("detector", BoxFileDetector.detect)
        tracker = linking.make_tracker("bytetrack")
        type(tracker).update = timer.wrap("tracker", type(tracker).update)
        linking.BoxLinker.link = timer.wrap("linking", linking.BoxLinker.link)
        settings = TrackSettings(**common, detections=str(boxes), link="bytetrack", animals=2)
        linked = timed_run(VIDEO, Prompts([], source="no prompts"), settings, root / "linked")
        yolo = yolo_seconds(open_frames(VIDEO), args.frames)

    n = args.frames
    s = timer.seconds
    masks = linked - s["linking"]
    what = f"{args.backend}" + (f" (random weights, {args.image_size} px)" if args.backend == "sam2" else "")
    print(f"{n} frames of two_mice_360p.mp4, {what}, chunks of {args.chunk_size}\n")
    print("| mode | seconds | frames per second |")
    print("| --- | --- | --- |")
    print(f"| clicks (`--prompts`) | {clicks:.2f} | {n / clicks:.1f} |")
    print(f"| detector + tracker + masks (`--detections --link bytetrack --animals 2`) | {linked:.2f} | "
          f"{n / linked:.1f} |")
    print(f"| the same with a YOLO11n at 640 px instead of the boxes file (estimated: + its time below) | "
          f"{linked + yolo:.2f} | {n / (linked + yolo):.1f} |")
    print("\n| part of the linked run | seconds | share of the run | per frame |")
    print("| --- | --- | --- | --- |")
    parts = [
        ("detector: boxes file looked up", s["detector"], s["detector"] / n),
        ("tracker: ultralytics `BYTETracker.update`", s["tracker"], s["tracker"] / n),
        ("identities: linking around the tracker (assignment, bookkeeping)",
         s["linking"] - s["tracker"] - s["detector"], (s["linking"] - s["tracker"] - s["detector"]) / n),
        ("masks: the backend, decoding, saving, files", masks, masks / n),
    ]
    for name, seconds, per_frame in parts:
        print(f"| {name} | {seconds:.3f} | {100 * seconds / linked:.1f}% | {1000 * per_frame:.2f} ms |")
    print(f"\nYOLO11n at 640 px on the same {n} frames ({settings_device()}): {yolo:.2f} s, "
          f"{1000 * yolo / n:.1f} ms per frame")
    print(f"calls: {timer.calls}")


if __name__ == "__main__":
    main()
