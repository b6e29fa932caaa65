"""A batch's list of videos (a manifest CSV, or a folder of videos), and its ``batch.csv`` of results.

The manifest has the columns ``video`` and ``prompts``, optionally ``name`` (the run's folder under the
batch's output; else the video's file name without its extension), and any `TrackSettings` field as a
column (``chunk_size`` or ``chunk-size``) whose non-empty cells override the command's option for that
video. Paths are relative to the manifest's folder, those of the file settings too (`PATH_SETTINGS`: a
``detections`` column gives each video its own boxes CSV). The whole manifest is checked before any video
starts: an unknown column or a value that is not a setting's type is an error naming the row and column.

A folder instead of a manifest takes each video with its clicks ``NAME.csv`` and its boxes
``NAME.boxes.csv`` (its ``detections``) beside it, where they exist.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import typing
from pathlib import Path

from ..errors import UserInputError
from ..settings import TrackSettings, setting_types
from .files import write_atomically
from .frames import TIFF_SUFFIXES, VIDEO_SUFFIXES

REQUIRED = ("video", "prompts")
OPTIONAL = ("name",)
RESULT_COLUMNS = ("name", "video", "status", "frames", "seconds", "lost", "merged", "jumped", "error")
# settings that name a file: a manifest's cell is relative to the manifest's folder, as its video is
PATH_SETTINGS = ("detections", "detector", "checkpoint")
BOXES_SUFFIX = ".boxes.csv"  # a folder's NAME.boxes.csv: the detections of NAME's video
_TRUE, _FALSE = {"1", "true", "yes", "y", "t", "on"}, {"0", "false", "no", "n", "f", "off"}


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One video of a batch.

    Parameters
    ----------
    video : str
        The video (absolute path).
    prompts : str or None
        Its prompts CSV (absolute path); None where the manifest's cell is empty.
    name : str
        The run's folder name under the batch's output.
    settings : dict
        The settings this video's row overrides, already of each field's type.
    line : int
        The row's line in the manifest (1 is the header), for messages.
    """

    video: str
    prompts: str | None
    name: str
    settings: dict
    line: int


def read_manifest(path) -> list[ManifestRow]:
    """The rows of a manifest CSV, or, for a folder, every video in it with its ``NAME.csv`` prompts.

    Raises
    ------
    UserInputError
        If the file cannot be read, lacks ``video``/``prompts``, has a column that is no setting, or a
        cell that is not of its setting's type.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return folder_manifest(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UserInputError(
            f"Cannot read the manifest {path}: {error.strerror or error}. Give a CSV with the columns "
            "video,prompts (and optionally name and settings), or a folder of videos."
        ) from error
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or ())]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise UserInputError(
            f"Manifest {path} lacks the column(s) {', '.join(missing)}; its header is "
            f"{','.join(header) or '(empty)'}. It needs video,prompts and may have name and settings columns."
        )
    columns = {column: _setting_name(column, path) for column in header if column not in REQUIRED + OPTIONAL}
    rows = []
    for raw in reader:
        line = reader.line_num  # the file's line (blank lines are skipped, and count)
        cells = {(key or "").strip(): (value or "").strip() for key, value in raw.items()}
        if not any(cells.values()):
            continue  # a blank line
        if not cells.get("video"):
            raise UserInputError(f"Manifest {path}, line {line}: the video cell is empty; give the video's path.")
        video = path.parent / Path(cells["video"]).expanduser()
        settings = {
            field: _parse(cells[column], field, f"Manifest {path}, line {line}, column {column}")
            for column, field in columns.items() if cells.get(column)
        }
        for field in PATH_SETTINGS:
            if settings.get(field):
                settings[field] = str((path.parent / Path(settings[field]).expanduser()).absolute())
        name = cells.get("name") or video.stem
        if Path(name).name != name or name in (".", ".."):
            raise UserInputError(
                f"Manifest {path}, line {line}: the name {name!r} is not a folder name (it names the run's "
                "folder inside --out); give one without / or \\."
            )
        rows.append(ManifestRow(
            video=str(video.absolute()),
            prompts=str((path.parent / Path(cells["prompts"]).expanduser()).absolute()) if cells["prompts"] else None,
            name=name,
            settings=settings,
            line=line,
        ))
    if not rows:
        raise UserInputError(f"Manifest {path} names no video; add a row video,prompts for each.")
    return rows


def folder_manifest(folder: Path) -> list[ManifestRow]:
    """Every video file and TIFF stack in ``folder`` (not its subfolders), with ``NAME.csv`` beside it
    as its prompts and ``NAME.boxes.csv`` as its detections, where they exist."""
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES + TIFF_SUFFIXES)
    if not videos:
        raise UserInputError(
            f"{folder} holds no video ({', '.join(VIDEO_SUFFIXES + TIFF_SUFFIXES)}); give a folder of videos "
            "with NAME.csv prompts beside each, or a manifest CSV."
        )
    rows = []
    for line, video in enumerate(videos, start=2):
        prompts, boxes = video.with_suffix(".csv"), video.with_suffix(BOXES_SUFFIX)
        settings = {"detections": str(boxes.absolute())} if boxes.is_file() else {}
        rows.append(ManifestRow(str(video.absolute()), str(prompts.absolute()) if prompts.exists() else None,
                                video.stem, settings, line))
    return rows


def _setting_name(column: str, manifest: Path) -> str:
    field = column.strip().lstrip("-").replace("-", "_")
    if field not in {f.name for f in dataclasses.fields(TrackSettings)}:
        raise UserInputError(
            f"Manifest {manifest} has the column {column!r}, which is neither video, prompts, name nor a "
            "setting (settings are named as the track options, e.g. chunk_size or chunk-size). Remove or "
            "rename it."
        )
    return field


def _parse(text: str, field: str, where: str):
    """A cell as its setting's type: ``int``, ``float``, ``str``, ``bool``, or ``list[int]`` (``1 3``)."""
    kind = setting_types()[field]
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if args and typing.get_origin(kind) is not list:
        kind = args[0]
    try:
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError("give true or false")
            return text.lower() in _TRUE
        if typing.get_origin(kind) is list:
            item = typing.get_args(kind)[0]
            return [item(part) for part in text.replace(";", " ").replace(",", " ").split()]
        return kind(text)
    except ValueError as error:
        raise UserInputError(f"{where}: {text!r} is not a value of {field} ({error}).") from None


def write_results(path: Path, rows: list[dict]) -> None:
    """``batch.csv``: one row per video, columns `RESULT_COLUMNS`, replaced whole (never half written)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, RESULT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: ("" if value is None else value) for key, value in row.items()} for row in rows)
    text = buffer.getvalue().encode()
    write_atomically(Path(path), lambda handle: handle.write(text))


def read_results(path: Path) -> dict[str, dict]:
    """An earlier ``batch.csv`` by name (empty when there is none or it cannot be read)."""
    try:
        with open(path, newline="") as handle:
            return {row["name"]: row for row in csv.DictReader(handle) if row.get("name")}
    except (OSError, csv.Error, KeyError):
        return {}
