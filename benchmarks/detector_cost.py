"""How much of a run the detector costs: inference at chunk starts (and for lost animals), and training.

Runs the engine the command line runs (`run_tracking`) on the first frames of the real two-mice clip
with SAM2 tiny (random weights) and ``--train-detector``, timing every call of the detector and the
training, in the same process and run:

    .venv/bin/python benchmarks/detector_cost.py --frames 300 --chunk-size 50

prints a Markdown table (for docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

from napari_sam2_longvideo.engine.detection import schedule as detector_schedule  # noqa: E402
from napari_sam2_longvideo.engine.detection.detector import YoloDetector  # noqa: E402
from napari_sam2_longvideo.io.prompts import Prompts  # noqa: E402
from napari_sam2_longvideo.run import run_tracking  # noqa: E402
from napari_sam2_longvideo.settings import TrackSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=256)
    args = parser.parse_args()

    timers = {"detect": 0.0, "detect_calls": 0, "train": 0.0}
    detect = YoloDetector.detect
    train = detector_schedule.train_detector

    def timed_detect(self, image):
        started = time.perf_counter()
        try:
            return detect(self, image)
        finally:
            timers["detect"] += time.perf_counter() - started
            timers["detect_calls"] += 1

    def timed_train(*a, **k):
        started = time.perf_counter()
        yield from train(*a, **k)
        timers["train"] += time.perf_counter() - started

    YoloDetector.detect = timed_detect
    detector_schedule.train_detector = timed_train
    settings = TrackSettings(
        random_weights=True, image_size=args.image_size, device="cpu", chunk_size=args.chunk_size,
        max_frames=args.frames, train_detector=True, train_frames=args.chunk_size, detector_epochs=1,
        detector_imgsz=320,
    )
    prompts = Prompts([(0, 60, 185, 1, True), (0, 250, 275, 2, True)], source="clip README")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        for _ in run_tracking(VIDEO, prompts, settings, out):
            pass
        total = time.perf_counter() - started

    tracking = total - timers["detect"] - timers["train"]
    print("| part | seconds | share of the run |")
    print("| --- | --- | --- |")
    print(f"| whole run, {args.frames} frames | {total:.1f} | 100% |")
    print(f"| detector inference ({timers['detect_calls']} frames) | {timers['detect']:.2f} | "
          f"{100 * timers['detect'] / total:.1f}% |")
    print(f"| detector training (1 epoch, {args.chunk_size} frames, 320 px) | {timers['train']:.1f} | "
          f"{100 * timers['train'] / total:.1f}% |")
    print(f"| everything else (SAM2, decoding, saving) | {tracking:.1f} | {100 * tracking / total:.1f}% |")


if __name__ == "__main__":
    main()
