"""NWB: one file with an ``ndx-pose`` PoseEstimation per animal, each holding the centroid series.

Positions are ``x, y`` in pixels, the score is the confidence, lost frames are NaN. Times are the
video's rate (``rate``, ``starting_time`` 0) for constant-rate video and every frame's timestamp for
variable-rate video. NWB holds one subject per file: the metadata YAML's ``subject`` describes it (for
two animals, say who they are in its ``description``); its ``session`` fills the file's own fields.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import numpy as np
import yaml

from ...errors import UserInputError
from .run_data import NODE, SOFTWARE, RunData

SESSION_FIELDS = (
    "session_description", "identifier", "session_start_time", "experimenter", "experiment_description",
    "session_id", "institution", "lab", "keywords", "notes", "protocol", "related_publications",
)
SUBJECT_FIELDS = (
    "subject_id", "species", "sex", "age", "age__reference", "description", "genotype", "strain", "weight",
    "date_of_birth",
)
REFERENCE_FRAME = "(0, 0) is the top-left corner of the video frame; x grows to the right, y downwards"


def read_nwb_metadata(path) -> dict:
    """The ``session`` and ``subject`` mappings of a small YAML file, checked against NWB's field names."""
    path = Path(path).expanduser()
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UserInputError(f"Cannot read the NWB metadata file {path}: {error}") from error
    if not isinstance(values, dict) or set(values) - {"session", "subject"}:
        raise UserInputError(
            f"{path} must hold a `session:` and/or a `subject:` mapping (found {sorted(values) if isinstance(values, dict) else type(values).__name__})."
        )
    for part, known in (("session", SESSION_FIELDS), ("subject", SUBJECT_FIELDS)):
        given = values.get(part) or {}
        unknown = sorted(set(given) - set(known)) if isinstance(given, dict) else [str(given)]
        if unknown:
            raise UserInputError(
                f"{path}: {part} has fields NWB does not know: {', '.join(unknown)}. Known: {', '.join(known)}."
            )
    return values


def write_nwb(run: RunData, folder: Path, metadata: dict | None = None) -> list[Path]:
    import ndx_pose  # registers the extension with pynwb
    import pynwb

    metadata = metadata or {}
    path = folder / f"{run.name}.nwb"
    timing = _timing(run)
    session = dict(metadata.get("session") or {})
    session.setdefault("session_description", f"{run.name}: animals tracked with {SOFTWARE}")
    session.setdefault("identifier", str(uuid.uuid4()))
    session["session_start_time"] = _start_time(session.get("session_start_time"), run)
    subject = pynwb.file.Subject(**metadata["subject"]) if metadata.get("subject") else None
    nwbfile = pynwb.NWBFile(subject=subject, **session)
    # the video itself stays where it is: an external ImageSeries that the pose estimations point to
    video = pynwb.image.ImageSeries(
        name="video", description=f"the video {run.name} was tracked in", external_file=[run.video_path],
        format="external", starting_frame=[0], dimension=[run.width, run.height], unit="n.a.",
        num_samples=len(run.frames), **timing,
    )
    nwbfile.add_acquisition(video)
    behavior = nwbfile.create_processing_module("behavior", f"animal positions tracked with {SOFTWARE}")
    skeletons, estimations = [], []
    backend = run.metadata.get("settings", {}).get("backend", "")
    version = run.metadata.get("versions", {}).get("napari-sam2-longvideo", "")
    for i, name in enumerate(run.animal_names):
        skeleton = ndx_pose.Skeleton(
            name=f"{name}_skeleton", nodes=[NODE], edges=np.zeros((0, 2), np.uint8), subject=subject
        )
        series = ndx_pose.PoseEstimationSeries(
            name=NODE, description=f"centroid of {name}'s mask", data=run.xy[:, i], unit="pixels",
            reference_frame=REFERENCE_FRAME, confidence=run.score[:, i],
            confidence_definition=f"the {backend} backend's score of the mask; NaN where the animal is lost",
            **timing,
        )
        skeletons.append(skeleton)
        estimations.append(ndx_pose.PoseEstimation(
            name=name, pose_estimation_series=[series], description=f"{name} tracked by {SOFTWARE}",
            source_video=video, scorer=backend, source_software=SOFTWARE, source_software_version=version, skeleton=skeleton,
        ))
    behavior.add(ndx_pose.Skeletons(skeletons=skeletons))
    for estimation in estimations:
        behavior.add(estimation)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return [path]


def _timing(run: RunData) -> dict:
    if run.fps and not run.variable_frame_rate:
        return {"rate": float(run.fps), "starting_time": 0.0}
    if run.times_s is not None:
        return {"timestamps": run.times_s}
    raise UserInputError(
        f"The input of {run.folder} has no frame rate (a folder of frames or a TIFF stack), and NWB needs "
        "times: give the rate it was filmed at with --fps."
    )


def _start_time(given, run: RunData) -> datetime.datetime:
    """The session's start: the YAML's, else when the video file was written, else when the run started."""
    if isinstance(given, str):
        try:
            given = datetime.datetime.fromisoformat(given)
        except ValueError as error:
            raise UserInputError(f"session_start_time {given!r} is not an ISO 8601 date and time.") from error
    if isinstance(given, datetime.date) and not isinstance(given, datetime.datetime):
        given = datetime.datetime.combine(given, datetime.time())
    if given is None:
        video = Path(run.video_path)
        if video.exists():
            given = datetime.datetime.fromtimestamp(video.stat().st_mtime)
        else:
            given = datetime.datetime.fromisoformat(run.metadata.get("started", "1970-01-01T00:00:00"))
    return given if given.tzinfo else given.astimezone()  # NWB wants a time zone: the machine's
