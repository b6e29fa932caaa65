"""Why labels.tif compresses frames at zlib level 1: time and size beside level 6 (zlib's default), one run.

    .venv/bin/python benchmarks/label_compression.py

Tracks the 360p two-mice clip with the contrast backend (weights-free, so this runs anywhere), then
compresses every frame of the result on its own, as labels.tif does, at both levels, in turn, three
times; prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import tifffile

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
LEVELS = (1, 6)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        prompts = Path(scratch) / "clicks.csv"
        prompts.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
        subprocess.run([str(Path(sys.executable).with_name("sam2-longvideo")), "track", str(VIDEO), "--prompts",
                        str(prompts), "--out", str(Path(scratch) / "run"), "--backend", "contrast", "--quiet"],
                       check=True, capture_output=True)
        frames = [frame.tobytes() for frame in tifffile.imread(Path(scratch) / "run" / "labels.tif")]
    seconds = {level: [] for level in LEVELS}
    sizes = {}
    for _ in range(3):
        for level in LEVELS:
            started = time.perf_counter()
            sizes[level] = sum(len(zlib.compress(frame, level)) for frame in frames)
            seconds[level].append(time.perf_counter() - started)
    raw = sum(len(frame) for frame in frames)
    print(f"{len(frames)} label frames, {raw / 1e6:.0f} MB uncompressed; median of 3 rounds:\n")
    print("| zlib level | seconds | MB written |")
    print("| --- | --- | --- |")
    for level in LEVELS:
        print(f"| {level} | {statistics.median(seconds[level]):.2f} | {sizes[level] / 1e6:.1f} |")


if __name__ == "__main__":
    main()
