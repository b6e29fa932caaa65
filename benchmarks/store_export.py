"""Writing a run's files from its label store (``labels.tif``, ``tracks.csv``): time and peak memory.

    .venv/bin/python benchmarks/store_export.py [--src OLD/src --src src] [--repeats 5]

Each ``--src`` is a source tree of this package (default: this checkout's), so that two versions of the
store can be measured in one run, in turn. For each, the contrast backend tracks the 360p two-mice clip
into a folder once (the command as a user runs it, timed, its peak memory from ``os.wait4``). Then, in
turn and ``--repeats`` times, fresh processes open that folder's store and write ``labels.tif`` and
``tracks.csv`` as the end of a run does (timed inside the process), or only open the store (the
imports and the open: what the export adds to a process is the difference of the two peaks). Prints a
Markdown table of medians for docs/benchmarks.md, and the sizes on disk.
"""

from __future__ import annotations

import argparse
import json
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

# Run in a child process: open the store in the run folder argv[1]; with argv[2] == "export", write the
# files into argv[3] and print the seconds that took.
CHILD = """
import json, sys, time
from pathlib import Path
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.export import write_labels_tiff, write_tracks_csv
from napari_sam2_longvideo.io.store import LabelStore
folder = Path(sys.argv[1])
try:
    store = LabelStore.open(folder)
except UserInputError:  # the store before labels.zarr: the run folder's store/ alone
    store = LabelStore.open(folder / "store")
if sys.argv[2] == "export":
    started = time.perf_counter()
    write_labels_tiff(store, Path(sys.argv[3]) / "labels.tif")
    write_tracks_csv(store.records(), Path(sys.argv[3]) / "tracks.csv")
    print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def measured(command: list[str], src: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of ``command`` run with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": src}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)  # this process's own peak, not its siblings'
        seconds = time.perf_counter() - started
        stdout.seek(0), stderr.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{command} failed: {stderr.read()}")
        return seconds, usage.ru_maxrss / 1024, stdout.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", help="a source tree of the package (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sources = [str(Path(s).resolve()) for s in (args.src or [REPO / "src"])]
    python = sys.executable
    results = {src: {"export": [], "export_peak": [], "open_peak": []} for src in sources}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "clicks.csv").write_text(PROMPTS)
        for i, src in enumerate(sources):
            run = scratch / f"run{i}"
            command = [python, "-c", "import sys; from napari_sam2_longvideo.cli import main; sys.exit(main())",
                       "track", str(VIDEO), "--prompts", str(scratch / "clicks.csv"), "--out", str(run),
                       "--backend", "contrast", "--quiet"]
            seconds, peak, _ = measured(command, src)
            results[src]["track"] = (seconds, peak)
            results[src]["store_bytes"] = _size(run / "labels.zarr") + _size(run / "store")
            results[src]["tif_bytes"] = (run / "labels.tif").stat().st_size
        for _ in range(args.repeats):
            for i, src in enumerate(sources):
                run, out = scratch / f"run{i}", scratch / f"out{i}"
                out.mkdir(exist_ok=True)
                _, peak, stdout = measured([python, "-c", CHILD, str(run), "export", str(out)], src)
                results[src]["export"].append(json.loads(stdout)["seconds"])
                results[src]["export_peak"].append(peak)
                _, peak, _ = measured([python, "-c", CHILD, str(run), "open"], src)
                results[src]["open_peak"].append(peak)
    print(f"{VIDEO.name}, contrast backend, default settings; medians of {args.repeats} rounds\n")
    print("| source | track command | its peak RSS | export (labels.tif + tracks.csv) | export process peak RSS "
          "| of which opening the store | store on disk | labels.tif |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for src, r in results.items():
        print(f"| {src} | {r['track'][0]:.2f} s | {r['track'][1]:.0f} MiB | {statistics.median(r['export']):.2f} s "
              f"| {statistics.median(r['export_peak']):.0f} MiB | {statistics.median(r['open_peak']):.0f} MiB "
              f"| {r['store_bytes'] / 1e6:.1f} MB | {r['tif_bytes'] / 1e6:.1f} MB |")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


if __name__ == "__main__":
    main()
