"""Peak memory of tracking N frames: this package's command line beside SAM2's own video predictor.

Each measurement runs in a fresh process; its peak resident set size comes from ``os.wait4``, which
reports that child's own maximum. Both sides use SAM2 tiny with random weights at the same image size
and the same two prompts on frame 0, so they do the same model work per frame.

    .venv/bin/python benchmarks/memory.py --frames 60 600 --chunk-size 20 --image-size 256

prints a Markdown table (for docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
PROMPTS = [(0, 60, 185, 1, True), (0, 250, 275, 2, True)]  # the clip's README, halved for 360p

SAM2_OWN = """
import sys, numpy as np, torch
from sam2.build_sam import build_sam2_video_predictor
folder, size = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
side = size // 16
predictor = build_sam2_video_predictor(
    "configs/sam2.1/sam2.1_hiera_t.yaml", device="cpu",
    hydra_overrides_extra=[f"++model.image_size={size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]"])
with torch.inference_mode():
    state = predictor.init_state(folder)
    for frame, y, x, animal, positive in %r:
        predictor.add_new_points_or_box(state, frame, animal, points=np.array([[x, y]], np.float32),
                                        labels=np.array([1], np.int32))
    for _ in predictor.propagate_in_video(state):
        pass
""" % (PROMPTS,)


def peak_rss_mib(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (its peak RSS in MiB, wall seconds). Fails loudly if it fails."""
    started = time.perf_counter()
    env = dict(os.environ, TQDM_DISABLE="1")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:4]} failed:\n{process.stderr.read().decode()[-3000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def extract_jpegs(video: Path, count: int, folder: Path) -> None:
    """SAM2's own predictor reads a folder of JPEGs named by frame number."""
    sys.path.insert(0, str(REPO / "src"))
    from PIL import Image

    from napari_sam2_longvideo.io.frames import open_frames

    with open_frames(video) as frames:
        for t in range(count):
            Image.fromarray(frames.read(t)).save(folder / f"{t:05d}.jpg", quality=95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, nargs="+", default=[60, 600])
    parser.add_argument("--chunk-size", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=256)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("sam2-longvideo"))

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        prompts = scratch / "clicks.csv"
        prompts.write_text("frame,y,x,animal,positive\n" + "".join(f"{f},{y},{x},{a},1\n" for f, y, x, a, _ in PROMPTS))
        for count in args.frames:
            ours, ours_s = peak_rss_mib([
                cli, "track", str(args.video), "--prompts", str(prompts), "--out", str(scratch / f"run{count}"),
                "--max-frames", str(count), "--chunk-size", str(args.chunk_size), "--image-size",
                str(args.image_size), "--random-weights", "--device", "cpu", "--quiet",
            ])
            jpegs = scratch / f"jpegs{count}"
            jpegs.mkdir()
            extract_jpegs(args.video, count, jpegs)
            theirs, theirs_s = peak_rss_mib([sys.executable, "-c", SAM2_OWN, str(jpegs), str(args.image_size)])
            rows.append((count, ours, ours_s, theirs, theirs_s))
            print(f"{count} frames: ours {ours:.0f} MiB in {ours_s:.0f} s, sam2 {theirs:.0f} MiB in {theirs_s:.0f} s",
                  file=sys.stderr)

    print(f"| frames | this package, peak RSS | SAM2 init_state + propagate_in_video, peak RSS | ours / SAM2 |")
    print("| --- | --- | --- | --- |")
    for count, ours, ours_s, theirs, theirs_s in rows:
        print(f"| {count} | {ours:.0f} MiB ({ours_s:.0f} s) | {theirs:.0f} MiB ({theirs_s:.0f} s) | {ours / theirs:.2f} |")
    first, last = rows[0], rows[-1]
    print(f"\nOurs at {last[0]} frames / ours at {first[0]} frames: {last[1] / first[1]:.3f}; "
          f"SAM2's: {last[3] / first[3]:.3f}.")


if __name__ == "__main__":
    main()
