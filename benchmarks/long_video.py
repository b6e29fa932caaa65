"""Peak memory and speed of the contrast backend on one clip beside the same clip looped ten times.

    .venv/bin/python benchmarks/long_video.py [--loops 10] [--repeats 2]

The looped video is the two-mice clip's packets copied ``--loops`` times one after another with their
timestamps shifted (what ``ffmpeg -f concat -c copy`` does), so every frame decodes as in the clip and
nothing is re-encoded. Each command runs in a fresh process as a user runs it (start-up, learning the
floor and writing files included); its peak resident set size comes from ``os.wait4``. The rounds
alternate the short and the long video, so a burst of other work on the machine shifts both alike.
Prints a Markdown table for docs/benchmarks.md.
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

import av

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"  # the clip's README, halved for 360p


def loop_video(source: Path, loops: int, dest: Path) -> int:
    """Write ``source``'s video packets ``loops`` times into ``dest``; return the number of frames."""
    frames = 0
    with av.open(str(source)) as reader, av.open(str(dest), "w") as writer:
        stream = reader.streams.video[0]
        out = writer.add_stream_from_template(stream)
        packets = [p for p in reader.demux(stream) if p.size]
        starts = [p.pts for p in packets]
        span = max(starts) - min(starts) + (packets[1].duration or (starts[1] - starts[0]))
        for loop in range(loops):
            for packet in packets:
                packet.pts, packet.dts = packet.pts + span * (loop > 0), packet.dts + span * (loop > 0)
                packet.stream = out
                writer.mux(packet)
                frames += 1
    return frames


def run(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (its peak RSS in MB, wall seconds). Fails loudly if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed:\n{process.stderr.read().decode()[-3000:]}")
    return usage.ru_maxrss / 1000, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("sam2-longvideo"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        looped = scratch / f"two_mice_x{args.loops}.mp4"
        counts = {"clip": 1198, "looped": loop_video(VIDEO, args.loops, looped)}
        videos = {"clip": VIDEO, "looped": looped}
        (scratch / "clicks.csv").write_text(PROMPTS)
        results = {name: [] for name in videos}
        for _ in range(args.repeats):
            for name, video in videos.items():
                results[name].append(run([
                    cli, "track", str(video), "--prompts", str(scratch / "clicks.csv"), "--out",
                    str(scratch / name), "--backend", "contrast", "--chunk-size", "200", "--quiet", "--overwrite",
                ]))
    print("| video | frames | peak RSS (median) | seconds (median) | frames per second |")
    print("| --- | --- | --- | --- | --- |")
    medians = {}
    for name, rows in results.items():
        rss, seconds = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        medians[name] = rss
        print(f"| {name} | {counts[name]} | {rss:.0f} MB | {seconds:.1f} | {counts[name] / seconds:.0f} |")
    print(f"\nPeak memory, looped / clip: {medians['looped'] / medians['clip']:.3f} "
          f"({args.repeats} rounds, alternating).")


if __name__ == "__main__":
    main()
