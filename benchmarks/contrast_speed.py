"""Speed of the contrast backend: the whole command beside just decoding the same frames, in one run.

    .venv/bin/python benchmarks/contrast_speed.py [--repeats 3] [--before OTHER_CHECKOUT/src]

prints a Markdown table (for docs/benchmarks.md). With ``--before``, the command is also run from that
source tree (``PYTHONPATH``), in turn with this one's in every round, and a second table gives its times:
before and after a change, measured in the same spell of the machine. Decoding is timed in this process through the same
frame reader the command uses, both as RGB (what napari and SAM2 read) and as grey (what the contrast
backend reads); the command runs as a user runs it, start-up, learning the floor and file writing
included. The command runs twice per round, on all frames and on the first `SHORT` frames
(``--max-frames``): the difference is what the frames in between cost, without start-up, learning the
floor and writing files, which a long video spreads over many more frames. Everything is timed in turn,
``--repeats`` times, and each row gives the median, so that a burst of other work on the machine shifts
all of them alike.
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

from napari_sam2_longvideo.io.frames import open_frames

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
SHORT = 300


def decode_seconds(grey: bool) -> tuple[float, int]:
    started = time.perf_counter()
    with open_frames(VIDEO) as frames:
        read = frames.read_grey if grey else frames.read
        for t in range(len(frames)):
            read(t)
        count = len(frames)
    return time.perf_counter() - started, count


def command_seconds(scratch: Path, max_frames: int | None = None, src: Path = REPO / "src") -> float:
    prompts = scratch / "clicks.csv"
    prompts.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
    command = [str(Path(sys.executable).with_name("sam2-longvideo")), "track", str(VIDEO), "--prompts",
               str(prompts), "--out", str(scratch / "run"), "--backend", "contrast", "--chunk-size", "200",
               "--quiet", "--overwrite"] + (["--max-frames", str(max_frames)] if max_frames else [])
    env = dict(os.environ, PYTHONPATH=str(src))
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another source tree (its src/) to time the command from too")
    args = parser.parse_args()
    sources = {"after": REPO / "src"} | ({"before": args.before.resolve()} if args.before else {})
    rgb, grey = [], []
    whole = {name: [] for name in sources}
    short = {name: [] for name in sources}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            seconds, count = decode_seconds(grey=False)
            rgb.append(seconds)
            grey.append(decode_seconds(grey=True)[0])
            for name, src in sources.items():
                whole[name].append(command_seconds(Path(scratch), src=src))
                short[name].append(command_seconds(Path(scratch), SHORT, src=src))
    rgb, grey = statistics.median(rgb), statistics.median(grey)
    for name, src in sources.items():
        table(name if len(sources) > 1 else "", src, count, rgb, grey, statistics.median(whole[name]),
              statistics.median(short[name]), args.repeats)


def table(name: str, src: Path, count: int, rgb: float, grey: float, whole: float, short: float, repeats: int) -> None:
    between = whole - short
    title = f"{name}: " if name else ""
    print(f"\n{title}median of {repeats} rounds, {count} frames of 640x360, the command from {src}:\n")
    print("| what | seconds | frames per second |")
    print("| --- | --- | --- |")
    print(f"| decode as RGB (`FrameSource.read`) | {rgb:.2f} | {count / rgb:.0f} |")
    print(f"| decode as grey (`FrameSource.read_grey`, what the backend reads) | {grey:.2f} | {count / grey:.0f} |")
    print(f"| `sam2-longvideo track --backend contrast`, whole command | {whole:.2f} | {count / whole:.0f} |")
    print(f"| the same, first {SHORT} frames (`--max-frames {SHORT}`) | {short:.2f} | {SHORT / short:.0f} |")
    print(f"| frames {SHORT} to {count - 1}: whole command less the first {SHORT} | {between:.2f} | "
          f"{(count - SHORT) / between:.0f} |")
    print(f"\nThe whole command takes {whole / rgb:.1f}x the time of decoding as RGB and {whole / grey:.1f}x "
          f"that of decoding as grey; beyond decoding, tracking costs {(whole - grey) / count * 1000:.1f} ms "
          "a frame, start-up and files included.")


if __name__ == "__main__":
    main()
