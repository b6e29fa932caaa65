"""``review``, ``swap``, ``correct`` and ``undo``: look at a finished run's doubtful frames and mend them."""

from __future__ import annotations

import itertools
import sys

from ..engine.corrections import REJOIN_FRAMES, REJOIN_IOU
from ..engine.review import CLOSE_MARGIN, LOW_SCORE

SHOWN_EPISODES = 20  # rows printed; review.csv has them all


def add_commands(commands) -> None:
    review = commands.add_parser(
        "review", help="list a run's doubtful frames, worst first",
        description="List the doubtful episodes of the run in RUN (lost, merged, jumped, low score, re-anchored, close "
        "identity assignments at chunk starts), "
        "worst first, and write them all to RUN/review.csv.",
    )
    review.add_argument("folder", metavar="RUN", help="the --out folder of a track run")
    review.add_argument("--low-score", type=float, default=LOW_SCORE, help="scores below this are doubtful")
    review.add_argument("--close-margin", type=float, default=CLOSE_MARGIN,
                        help="a detector's identity assignment whose margin over a swap is below this is a close "
                        "call (default %(default)s)")
    review.add_argument("--all", action="store_true", help=f"print every episode, not the first {SHOWN_EPISODES}")
    review.set_defaults(run=review_command)

    swap = commands.add_parser(
        "swap", help="exchange two animals' labels from a frame on",
        description="Exchange the labels and tracks rows of animals A and B on frames --from to --to (default: "
        "to the end), then write labels.tif and tracks.csv again. Undo with 'undo RUN'.",
    )
    swap.add_argument("folder", metavar="RUN", help="the --out folder of a finished track run")
    swap.add_argument("a", type=int, help="one animal id")
    swap.add_argument("b", type=int, help="the other animal id")
    swap.add_argument("--from", dest="start", type=int, required=True, metavar="T", help="first frame swapped")
    swap.add_argument("--to", dest="stop", type=int, metavar="U", help="last frame swapped (default: the last)")
    swap.set_defaults(run=swap_command)

    correct = commands.add_parser(
        "correct", help="re-track from a frame with new clicks or a painted mask, until the old result agrees again",
        description="Re-track from the frame of the points in --prompts: the animals clicked there get the points, "
        "the others keep their current masks; or from frame --frame of --mask, an image of that frame's labels as "
        "they should be (every animal's mask). Stop once every animal's mask agrees with the old result again "
        "(--rejoin-iou on --rejoin-frames consecutive frames) and keep the old frames after that. Undo with "
        "'undo RUN'.",
    )
    correct.add_argument("folder", metavar="RUN", help="the --out folder of a finished track run")
    fix = correct.add_mutually_exclusive_group(required=True)
    fix.add_argument("--prompts", help="CSV frame,y,x,animal,positive, all on one frame")
    fix.add_argument("--mask", metavar="IMAGE",
                     help="a label image (TIFF or PNG) of one frame as it should be: 0 no animal, else the animal id")
    correct.add_argument("--frame", type=int, help="the frame --mask shows")
    correct.add_argument("--to-end", action="store_true", help="re-track to the end of the video")
    correct.add_argument("--rejoin-iou", type=float, default=REJOIN_IOU,
                         help="mask IoU with the old result at which an animal agrees (default %(default)s)")
    correct.add_argument("--rejoin-frames", type=int, default=REJOIN_FRAMES,
                         help="consecutive agreeing frames after which the re-track stops (default %(default)s)")
    correct.add_argument("--video", help="the run's video, where it is no longer where run.json says")
    correct.add_argument("--quiet", action="store_true", help="no progress bar")
    correct.set_defaults(run=correct_command)

    undo = commands.add_parser(
        "undo", help="undo the last correction", description="Undo the last swap or correct in RUN; again for "
        "the one before.",
    )
    undo.add_argument("folder", metavar="RUN", help="the run folder")
    undo.set_defaults(run=undo_command)


def review_command(args) -> int:
    from ..corrections import review_run

    episodes = review_run(args.folder, low_score=args.low_score, close_margin=args.close_margin)
    if not episodes:
        print(f"No doubtful frames in {args.folder}. Wrote {args.folder}/review.csv")
        return 0
    shown = episodes if args.all else episodes[:SHOWN_EPISODES]
    print(f"{'rank':>4}  {'start':>6}  {'stop':>6}  {'animals':<8}  {'reason':<10}  {'score':>7}")
    for rank, e in enumerate(shown, start=1):
        animals = " ".join(map(str, e.animals))
        print(f"{rank:>4}  {e.start:>6}  {e.stop:>6}  {animals:<8}  {e.reason:<10}  {e.score:>7.2f}")
    more = f" ({len(episodes) - len(shown)} more there)" if len(shown) < len(episodes) else ""
    print(f"{len(episodes)} episodes. Wrote {args.folder}/review.csv{more}")
    return 0


def swap_command(args) -> int:
    from ..corrections import swap_animals

    entry = swap_animals(args.folder, args.a, args.b, args.start, args.stop)
    print(f"Swapped animals {args.a} and {args.b} on frames {entry['frame']} to {entry['to']} in {args.folder} "
          f"({entry['seconds']:.2f} s); labels.tif and tracks.csv rewritten. 'undo {args.folder}' takes it back.")
    return 0


def correct_command(args) -> int:
    from tqdm import tqdm

    from ..corrections import CorrectionWritten, correct_run, painted_frame
    from ..engine.corrections import RejoinSettings
    from ..io.prompts import Prompts

    rejoin = RejoinSettings(args.rejoin_iou, args.rejoin_frames, args.to_end)
    fix = painted_frame(args.mask, args.frame) if args.mask else Prompts.from_csv(args.prompts)
    events = correct_run(args.folder, fix, rejoin, source=args.video)
    first = next(events)  # the checks run before the first frame: a mistake shows no bar
    with tqdm(desc="re-tracking", unit="frame", disable=args.quiet, file=sys.stderr) as bar:
        for event in itertools.chain([first], events):
            if isinstance(event, CorrectionWritten):
                entry = event.entry
            else:
                bar.update(1)
    how = "rejoined the old result" if entry["rejoined"] else "reached the end"
    print(f"Re-tracked frames {entry['frame']} to {entry['stop'] - 1} ({entry['frames_retracked']} frames, "
          f"{entry['seconds']:.2f} s) and {how}; labels.tif and tracks.csv rewritten. 'undo {args.folder}' takes "
          "it back.")
    return 0


def undo_command(args) -> int:
    from ..corrections import corrections_of, undo_last

    entry = undo_last(args.folder)
    left = len(corrections_of(args.folder))
    print(f"Undid the {entry['kind']} from frame {entry['frame']} (animals "
          f"{' '.join(map(str, entry['animals']))}); {left} correction(s) left in {args.folder}.")
    return 0
