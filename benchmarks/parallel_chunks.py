"""``track --parallel-chunks`` against the sequential run on the two-mice clip: agreement and wall time.

    .venv/bin/python benchmarks/parallel_chunks.py [--workers 2] [--out FOLDER]

The boxes are those of a contrast run's labels from the clip's two clicks (one box per animal and frame,
confidence 0.9: a detector that sees what the contrast backend sees). Both sides then track the clip
from the same clicks with ``--detections`` and the contrast backend: the sequential run carries each
animal's mask into the next chunk and re-anchors it by the boxes; ``--parallel-chunks --workers N`` runs
the chunks as Dask tasks on a local cluster, each prompted by the boxes, joined at the shared frames.
Each side is one ``sam2-longvideo track`` command, timed from start to exit (the parallel one including
starting and stopping its cluster, which is also timed alone). Prints JSON: seconds, per-frame agreement
(the share of pixels that either run labels where both give the same label; a frame blank in both agrees),
identity switches (frames where the parallel animal that covers a sequential animal changes) and the
frames that differ most.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"
COMMAND = [str(Path(sys.executable).with_name("sam2-longvideo"))]
CLUSTER_ALONE = (
    "from napari_sam2_longvideo.batch.clusters import open_client\n"
    "from napari_sam2_longvideo.settings import TrackSettings\n"
    "if __name__ == '__main__':\n"
    "    with open_client(TrackSettings(backend='contrast'), workers={workers}) as client:\n"
    "        client.submit(abs, 1).result()\n"
)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return round(time.perf_counter() - started, 1)


def boxes_of(labels_path: Path, out: Path) -> Path:
    from napari_sam2_longvideo.core.geometry import mask_box
    from napari_sam2_longvideo.io.detections import write_detections_csv

    rows = []
    for frame, labels in enumerate(tifffile.imread(labels_path)):
        for animal in (1, 2):
            box = mask_box(labels == animal)
            if box is not None:
                rows.append((frame, *map(float, box), 0.9, 0, "mouse"))
    return write_detections_csv(out, rows)


def compare(sequential: np.ndarray, parallel: np.ndarray) -> dict:
    either = (sequential > 0) | (parallel > 0)
    agree = np.array([
        np.sum((sequential[f] == parallel[f]) & either[f]) / either[f].sum() if either[f].any() else 1.0
        for f in range(len(sequential))
    ])
    switches, swapped, cover = 0, 0, None
    for f in range(len(sequential)):
        now = {}
        for animal in (1, 2):
            hits = np.bincount(sequential[f][parallel[f] == animal], minlength=3)[1:]
            if hits.sum():
                now[animal] = int(hits.argmax()) + 1
        swapped += any(now[a] != a for a in now)
        if len(now) == 2:
            switches += cover is not None and now != cover
            cover = now
    return {
        "frames": len(sequential), "agreement_mean": round(float(agree.mean()), 5),
        "agreement_min": round(float(agree.min()), 4), "frames_identical": int((agree == 1).sum()),
        "frames_below_99": int((agree < 0.99).sum()), "pixels_differing": int(((sequential != parallel) & either).sum()),
        "identity_switches": int(switches), "frames_with_swapped_identity": int(swapped),
        "worst_frames": [[int(f), round(float(agree[f]), 4)] for f in np.argsort(agree, kind="stable")[:6]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="parallel-chunks-"))
    out.mkdir(parents=True, exist_ok=True)
    clicks = out / "clicks.csv"
    clicks.write_text(PROMPTS)
    track = [*COMMAND, "track", str(VIDEO), "--prompts", str(clicks), "--backend", "contrast", "--quiet", "--overwrite"]
    timed([*track, "--out", str(out / "contrast")])
    boxes = boxes_of(out / "contrast" / "labels.tif", out / "boxes.csv")
    track += ["--detections", str(boxes)]
    seconds = {
        "sequential": timed([*track, "--out", str(out / "sequential")]),
        f"parallel_{args.workers}_workers": timed(
            [*track, "--out", str(out / "parallel"), "--parallel-chunks", "--workers", str(args.workers)]),
        "cluster_start_and_stop": timed([sys.executable, "-c", CLUSTER_ALONE.format(workers=args.workers)]),
    }
    result = {"seconds": seconds, **compare(*(tifffile.imread(out / n / "labels.tif") for n in ("sequential", "parallel")))}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
