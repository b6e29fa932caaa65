"""A finished run in the formats the field reads: SLEAP, DeepLabCut, NWB, movement, COCO; and its overlay
video, asked for by name (``all`` means the analysis formats, not a video of the whole recording).

Each format is a module with one writer, ``write_FORMAT(run, folder) -> [paths]``, over the `RunData`
that `run_data.read_run` takes from the run folder. `export_run` writes the asked formats into a
temporary folder beside the output and moves each file into place when it is complete, so an export
that fails leaves no half-written file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ...errors import UserInputError
from .coco import write_coco
from .dlc import write_dlc
from .netcdf import write_movement
from .nwb import read_nwb_metadata, write_nwb
from .overlay import write_overlay_video
from .run_data import RunData, read_run
from .sleap import write_sleap

FORMATS = {
    "sleap": write_sleap,
    "dlc": write_dlc,
    "nwb": write_nwb,
    "movement": write_movement,
    "coco": write_coco,
}
VIDEOS = {"overlay": write_overlay_video}
WRITERS = FORMATS | VIDEOS
EXPORTS_DIR = "exports"

__all__ = ["EXPORTS_DIR", "FORMATS", "VIDEOS", "RunData", "export_run", "read_nwb_metadata", "read_run"]


def export_run(run_folder, formats, out=None, *, nwb_metadata: dict | None = None, fps: float | None = None,
               on_written=None) -> list[Path]:
    """Write the finished run in ``run_folder`` in each of ``formats`` into ``out`` (default RUN/exports).

    Parameters
    ----------
    run_folder : str or Path
        The ``--out`` folder of a finished ``track`` run.
    formats : iterable of str
        Names from `FORMATS` or `VIDEOS`, or ``"all"`` (every one of `FORMATS`).
    out : str or Path, optional
        Where the files go (created if needed).
    nwb_metadata : dict, optional
        ``session`` and ``subject`` fields for the NWB file (`read_nwb_metadata`).
    fps : float, optional
        Frame rate of an input without one of its own (folders of frames, TIFF stacks).
    on_written : callable, optional
        Called with (format, paths) as each format is done.

    Returns
    -------
    list of Path
        The files written.
    """
    names = _formats(formats)
    run = read_run(run_folder, fps=fps)
    out = Path(out).expanduser() if out is not None else run.folder / EXPORTS_DIR
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file, not a folder; give the folder to write the exports in.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out) as scratch:
        for name in names:
            kwargs = {"metadata": nwb_metadata} if name == "nwb" else {}
            paths = [shutil.move(path, out / path.name) for path in WRITERS[name](run, Path(scratch), **kwargs)]
            written.extend(Path(path) for path in paths)
            if on_written is not None:
                on_written(name, [Path(path) for path in paths])
    return written


def _formats(formats) -> list[str]:
    asked = [formats] if isinstance(formats, str) else list(formats)
    unknown = [name for name in asked if name not in WRITERS and name != "all"]
    if unknown or not asked:
        raise UserInputError(
            f"Unknown export format {', '.join(unknown) or '(none given)'}: choose from {', '.join(WRITERS)} or all."
        )
    expanded = [n for name in asked for n in (FORMATS if name == "all" else [name])]
    return list(dict.fromkeys(expanded))
