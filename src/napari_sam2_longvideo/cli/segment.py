"""``segment``: every box of a detector prompts the segmenter for a mask, image by image."""

from __future__ import annotations

import sys

from ..segment_run import SEGMENT_SETTINGS
from .options import add_setting_options, settings_from_args
from .track import EXIT_INTERRUPTED


def add_commands(commands) -> None:
    segment = commands.add_parser(
        "segment",
        help="segment the objects a detector finds on each image (no clicks, no tracking)",
        description="Find objects with --detector (a YOLO model) or --detections (a boxes CSV) on each image "
        "of IMAGES and segment each box with --backend sam2 (SAM2's image predictor, all boxes of an image "
        "in one call) or contrast (no weights: what stands out from the box's edge). Writes labels.tif "
        "(N x H x W, the objects of each image labelled 1, 2, ... by confidence), objects.csv (frame, label, "
        "class_id, class_name, confidence, x0, y0, x1, y1, area) and run.json into --out.",
    )
    segment.add_argument(
        "images", help="a folder of images, one image, a TIFF stack or a video (each frame on its own)",
    )
    segment.add_argument("--out", required=True, help="output folder (created if needed)")
    segment.add_argument("--overwrite", action="store_true", help="replace the results in --out")
    segment.add_argument("--quiet", action="store_true", help="no progress bar")
    add_setting_options(segment, only=SEGMENT_SETTINGS, aliases={"detector_classes": ("--classes",)})
    segment.set_defaults(run=segment_command)


def segment_command(args) -> int:
    from tqdm import tqdm

    from ..segment_run import SegmentWritten, run_segment

    settings = settings_from_args(args)
    events = run_segment(args.images, settings, args.out, overwrite=args.overwrite)
    with tqdm(desc="segmenting", unit="image", disable=args.quiet, file=sys.stderr) as bar:
        try:
            for event in events:
                if isinstance(event, SegmentWritten):
                    bar.close()
                    print(f"Wrote {event.labels}, {event.objects} ({event.num_objects} objects) and {event.metadata}")
                    if event.overlay is not None:
                        print(f"Wrote the overlay video {event.overlay}")
                    continue
                bar.total = event.num_frames
                bar.update(1)
        except KeyboardInterrupt:
            events.close()  # removes the partial results, releases the folder
            bar.close()
            print(f"\nStopped; nothing was written to {args.out} (segment does not resume: run it again).",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    return 0
