"""``sam2-longvideo``: the tracking engine without a GUI, for one video or a batch script.

Each command lives in a module of its own that adds its parser (``add_commands``) and the function
that runs it (``run``, set as the parser's default); `main` turns a user's mistake into a message and
exit code 2, and Ctrl-C into exit code 130 with what was kept. Output piped into a reader that stops
early (``review RUN | head``) ends quietly with exit code 0.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import UserInputError
from . import batch, export, review, segment, track
from .options import add_setting_options, settings_from_args
from .track import EXIT_INTERRUPTED, StopAfterChunk

EXIT_USER_ERROR = 2
COMMAND_MODULES = (track, segment, review, export, batch)

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "StopAfterChunk", "add_setting_options", "build_parser",
           "main", "settings_from_args"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam2-longvideo",
        description="Segment and track several animals through long videos with SAM2, in chunks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def main(argv=None) -> int:
    # sam2 draws a tqdm bar per chunk; ours replaces it (ours is created with disable=False explicitly).
    os.environ.setdefault("TQDM_DISABLE", "1")
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, not at exit, so that a reader gone early is handled below
        return code
    except BrokenPipeError:
        # `sam2-longvideo review RUN | head`: the reader has what it wanted. Point stdout at devnull so
        # that Python's flush at exit does not fail again, and exit as if everything was read.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        kept = f" Finished chunks are kept in {args.out}; run the same command to resume." if "out" in vars(args) else ""
        print(f"\nStopped.{kept}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
