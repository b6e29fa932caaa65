"""Learning the contrast backend's floor with FFmpeg's default count of decoder threads, and with one per core.

    .venv/bin/python benchmarks/floor_threads.py [--repeats 5]

prints a Markdown table (for docs/benchmarks.md). Learning the floor decodes nearly every frame of
``two_mice_360p.mp4`` before the first frame is tracked (its samples are spread over keyframe
intervals of 250 frames), so the decoder's threads decide most of its time. Each thread count is timed
in turn, ``--repeats`` times, on a freshly opened video; each row gives the median, and the floors
learned must be identical.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from napari_sam2_longvideo.engine.backends.contrast.floor import learn_floor
from napari_sam2_longvideo.io import video

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
CHOICES = {"FFmpeg's default (0: cores + 1)": 0, "one per usable core (what the package sets)": video.usable_cores(),
           "one": 1}


def floor_seconds(thread_count: int) -> tuple[float, np.ndarray]:
    with video.VideoFrames(VIDEO, decoder_threads=thread_count) as frames:
        started = time.perf_counter()
        model = learn_floor(frames, dark=True, arena=np.ones((frames.height, frames.width), bool))
        return time.perf_counter() - started, model.background


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seconds = {name: [] for name in CHOICES}
    floors = []
    for _ in range(args.repeats):
        for name, count in CHOICES.items():
            spent, background = floor_seconds(count)
            seconds[name].append(spent)
            floors.append(background)
    assert all(np.array_equal(floors[0], floor) for floor in floors), "the floor depends on the thread count"
    default = statistics.median(seconds[next(iter(CHOICES))])
    print(f"Median of {args.repeats} rounds, {video.usable_cores()} usable cores:\n")
    print("| decoder threads | seconds to learn the floor | against FFmpeg's default |")
    print("| --- | --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / default:.2f} |")


if __name__ == "__main__":
    main()
