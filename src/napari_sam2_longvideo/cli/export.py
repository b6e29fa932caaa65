"""``export``: a finished run in the formats the field reads (SLEAP, DeepLabCut, NWB, movement, COCO)."""

from __future__ import annotations

FORMAT_CHOICES = ("sleap", "dlc", "nwb", "movement", "coco", "overlay", "all")


def add_commands(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write a finished run as SLEAP, DeepLabCut, NWB, movement or COCO files, or its overlay video",
        description="Write the finished run in RUN (the --out folder of `track`) in the formats asked for: "
        "sleap (SLEAP analysis HDF5), dlc (DeepLabCut multi-animal CSV), nwb (NWB with ndx-pose), movement "
        "(movement's netCDF: poses and bounding boxes), coco (COCO instance masks as RLE); overlay (the labels "
        "as they are now drawn on the run's video, NAME_overlay.mp4; not part of all). Lost frames are "
        "missing values; times are the video's, in seconds. See docs/exports.md.",
    )
    export.add_argument("run_folder", metavar="RUN", help="folder of a finished run")
    export.add_argument(
        "--to", nargs="+", action="extend", required=True, choices=FORMAT_CHOICES, metavar="FORMAT",
        help="one or more of sleap, dlc, nwb, movement, coco, overlay, or all (the five analysis formats)",
    )
    # not `out`: that name means a run folder to the rest of the command line (its Ctrl-C message)
    export.add_argument("--out", dest="exports_out", help="folder for the exported files (default RUN/exports)")
    export.add_argument(
        "--nwb-metadata", metavar="FILE",
        help="YAML with `session:` (NWBFile fields) and `subject:` (Subject fields) for the NWB file",
    )
    export.add_argument(
        "--fps", type=float,
        help="frame rate of an input without one (a folder of frames, a TIFF stack); videos use their own",
    )
    export.set_defaults(run=export_command)


def export_command(args) -> int:
    from ..errors import UserInputError
    from ..io.exports import export_run, read_nwb_metadata

    if args.fps is not None and not args.fps > 0:
        raise UserInputError(f"--fps {args.fps} must be a positive number of frames per second.")
    metadata = read_nwb_metadata(args.nwb_metadata) if args.nwb_metadata else None

    def report(name, paths):
        print(f"{name}: " + ", ".join(str(path) for path in paths))

    export_run(args.run_folder, args.to, args.exports_out, nwb_metadata=metadata, fps=args.fps, on_written=report)
    return 0
