"""Speed of the contrast backend: the whole command beside just decoding the same frames, in one run.

    .venv/bin/python benchmarks/contrast_speed.py

prints a Markdown table (for docs/benchmarks.md). Decoding is timed in this process through the same
frame reader the command uses; the command runs as a user runs it, start-up and file writing included.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from napari_sam2_longvideo.io.frames import open_frames

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"


def main() -> None:
    started = time.perf_counter()
    with open_frames(VIDEO) as frames:
        count = len(frames)
        for t in range(count):
            frames.read(t)
    decode = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        prompts = Path(scratch) / "clicks.csv"
        prompts.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
        command = [str(Path(sys.executable).with_name("sam2-longvideo")), "track", str(VIDEO), "--prompts",
                   str(prompts), "--out", str(Path(scratch) / "run"), "--backend", "contrast",
                   "--chunk-size", "200", "--quiet"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        whole = time.perf_counter() - started

    print("| what | seconds | frames per second |")
    print("| --- | --- | --- |")
    print(f"| decode the {count} frames (640x360) | {decode:.1f} | {count / decode:.0f} |")
    print(f"| `sam2-longvideo track --backend contrast`, whole command | {whole:.1f} | {count / whole:.0f} |")
    print(f"\nThe whole command takes {whole / decode:.1f}x the decoding time.")


if __name__ == "__main__":
    main()
