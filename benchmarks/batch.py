"""Four videos through ``sam2-longvideo batch`` (a local Dask cluster) against four ``track`` commands.

    .venv/bin/python benchmarks/batch.py [--workers 1 2] [--max-frames N] [--repeats 1]

The four videos are the 360p two-mice clip under four names (links, so four distinct runs), tracked by
the contrast backend from the clip's two prompts. "One after another" is four ``sam2-longvideo track``
commands in turn, as a shell loop runs them; "batch" is one ``sam2-longvideo batch`` command with
``--workers N`` (each worker a process, one video at a time), its wall time including starting and
stopping the cluster. Each repeat runs every side once, in turn, into fresh folders; the labels of every
side are checked equal to the first side's. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"
COMMAND = [str(Path(sys.executable).with_name("sam2-longvideo"))]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if not VIDEO.exists():
        sys.exit(f"{VIDEO} is missing")
    import numpy as np
    import tifffile

    options = ["--backend", "contrast", "--quiet"]
    if args.max_frames:
        options += ["--max-frames", str(args.max_frames)]
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "prompts.csv").write_text(PROMPTS)
        manifest = ["video,prompts"]
        for index in range(4):
            (root / f"mice{index}.mp4").symlink_to(VIDEO)
            manifest.append(f"mice{index}.mp4,prompts.csv")
        (root / "manifest.csv").write_text("\n".join(manifest) + "\n")
        sides = {"four `track` commands one after another": None}
        sides.update({f"`batch --workers {n}`": n for n in args.workers})
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        for repeat in range(args.repeats):
            for side, workers in sides.items():
                out = root / f"out{repeat}-{len(seconds[side])}-{workers}"
                if workers is None:
                    started = time.perf_counter()
                    for index in range(4):
                        timed([*COMMAND, "track", str(root / f"mice{index}.mp4"), "--prompts",
                               str(root / "prompts.csv"), "--out", str(out / f"mice{index}"), *options])
                    seconds[side].append(time.perf_counter() - started)
                else:
                    seconds[side].append(timed([*COMMAND, "batch", str(root / "manifest.csv"), "--out", str(out),
                                                "--workers", str(workers), *options]))
                first = root / "out0-0-None"
                for index in range(4):
                    np.testing.assert_array_equal(tifffile.imread(out / f"mice{index}" / "labels.tif"),
                                                  tifffile.imread(first / f"mice{index}" / "labels.tif"))
                print(f"{side}: {seconds[side][-1]:.1f} s", file=sys.stderr)
    frames = args.max_frames or 1198
    baseline = statistics.median(seconds["four `track` commands one after another"])
    print(f"cpu cores: {os.cpu_count()}; four videos of {frames} frames; median of {args.repeats} run(s)\n")
    print("| how | wall time | frames per second | / one after another |")
    print("| --- | --- | --- | --- |")
    for side, values in seconds.items():
        median = statistics.median(values)
        print(f"| {side} | {median:.1f} s | {4 * frames / median:.0f} | {median / baseline:.2f} |")


if __name__ == "__main__":
    main()
