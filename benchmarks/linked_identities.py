"""Identities of a linked run on the whole two-mice clip, against the clicked run, for several box seeds.

    .venv/bin/python benchmarks/linked_identities.py [--links bytetrack,botsort] [--seeds 0,1,2,3,4]
        [--before OTHER_CHECKOUT/src]

The clip is tracked once from its two clicks (contrast backend); its labels give the boxes
(`testing.linked_boxes.boxes_from_labels`: shuffled, 10% missed, a false box in a corner on a third of
the frames; one draw per seed), which ``sam2-longvideo track --detections --link L --animals 2`` links.
Each run is compared with the clicked one frame by frame (`identity_changes`); a change on a frame of the
clicked run's own ``merged`` episodes, or within 3 frames after one, is counted as "touching", any other
as "apart". With ``--before``, the linked runs are also made from that source tree. Prints a Markdown table
for docs/detector.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.testing.linked_boxes import at_episodes, boxes_from_labels, identity_changes

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"


def sam2_longvideo(*args: str, src: Path = REPO / "src") -> None:
    command = [str(Path(sys.executable).with_name("sam2-longvideo")), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(src)))
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", default="bytetrack,botsort")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--before", type=Path, help="another source tree (its src/) to link from too")
    args = parser.parse_args()
    if not VIDEO.exists():
        sys.exit(f"{VIDEO} is missing")
    sources = {"after": REPO / "src"} | ({"before": args.before.resolve()} if args.before else {})
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "clicks.csv").write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
        clicked_run = scratch / "clicked"
        sam2_longvideo("track", str(VIDEO), "--backend", "contrast", "--quiet", "--prompts",
                       str(scratch / "clicks.csv"), "--out", str(clicked_run))
        sam2_longvideo("review", str(clicked_run))
        with open(clicked_run / "review.csv") as handle:
            touching = [(int(r["start"]), int(r["stop"])) for r in csv.DictReader(handle) if r["reason"] == "merged"]
        clicked = tifffile.imread(clicked_run / "labels.tif")
        print(f"{len(clicked)} frames; the clicked run has {len(touching)} `merged` episodes\n")
        print("| source | linker | seed | both mice found | identity changes where apart | where touching |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, src in sources.items():
            for link in args.links.split(","):
                for seed in map(int, args.seeds.split(",")):
                    boxes = write_detections_csv(scratch / f"boxes{seed}.csv", boxes_from_labels(clicked, seed=seed))
                    out = scratch / "linked"
                    sam2_longvideo("track", str(VIDEO), "--backend", "contrast", "--quiet", "--overwrite",
                                   "--detections", str(boxes), "--link", link, "--animals", "2", "--out", str(out),
                                   src=src)
                    linked = tifffile.imread(out / "labels.tif")
                    both = np.mean([(frame == 1).any() and (frame == 2).any() for frame in linked])
                    changes = identity_changes(linked, clicked)
                    near = at_episodes(changes, touching)
                    apart = [f for f in changes if f not in near]
                    print(f"| {name} | {link} | {seed} | {both:.1%} | {len(apart)} {apart or ''} | "
                          f"{len(near)} {near or ''} |", flush=True)


if __name__ == "__main__":
    main()
