"""The one settings object shared by the command line, the napari widget and the saved run metadata.

Each field of `TrackSettings` carries what the command line and the widget need to offer it (its help,
its choices, the backend it applies to; see `setting`), so a new setting is one field here: the
``track`` and ``sample`` options, the widget's form, resuming and the docstring follow from it.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass

from .errors import UserInputError

MODEL_SIZES = ("tiny", "small", "base_plus", "large")
SAM_VERSIONS = ("2.1", "2.0")
DEVICES = ("auto", "cuda", "mps", "cpu")
BACKENDS = ("sam2", "contrast")
LINKERS = ("none", "bytetrack", "botsort")  # ultralytics' multi-object trackers, by their yaml names
GMC_METHODS = ("none", "sparseOptFlow", "orb", "sift", "ecc")  # BoT-SORT's camera-motion compensation
# What a setting applies to: both backends, one of them, or the detector (either backend, when a run has one).
APPLIES_TO = ("all", "sam2", "contrast", "detector", "link")

# SAM2 reads object pointers from up to 16 frames back (max_obj_ptrs_in_encoder), so pruning
# any closer would change its results.
MIN_PRUNE_WINDOW = 16


def setting(
    default,
    help: str,
    *,
    applies: str = "all",
    choices: tuple | None = None,
    none_means: str | None = None,
    metavar: str | None = None,
    flag: str | None = None,
    title: str | None = None,
    changes_result: bool = True,
):
    """A `TrackSettings` field with what the command line and the widget show of it.

    Parameters
    ----------
    default
        The value when none is given.
    help : str
        One sentence for ``--help``, the widget's tooltip and the class docstring.
    applies : str
        One of `APPLIES_TO`: ``"all"``, the backend that reads it (``"sam2"``, ``"contrast"``), or
        ``"detector"``. A setting the run does not use does not stop it from being resumed.
    choices : tuple, optional
        The only values allowed (a drop-down in the widget).
    none_means : str, optional
        What a default of None does ("all frames", "automatic"), for ``--help``.
    metavar : str, optional
        The value's name in ``--help`` (``PATH``, ``N``).
    flag : str, optional
        The command-line option, when it is not ``--`` and the name with dashes.
    title : str, optional
        The setting's name in messages, when not the field's name ("SAM version").
    changes_result : bool
        False for settings that never change the labels (the device): a resumed run may differ in them.
    """
    if applies not in APPLIES_TO:
        raise ValueError(f"applies={applies!r}: choose one of {APPLIES_TO}")
    return dataclasses.field(default=default, metadata={
        "help": help, "applies": applies, "choices": choices, "none_means": none_means, "metavar": metavar,
        "flag": flag, "title": title, "changes_result": changes_result,
    })


def flag_of(field: dataclasses.Field) -> str:
    """The command-line option of a settings field: ``--chunk-size`` for ``chunk_size``."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


@dataclass
class TrackSettings:
    """How to track: everything that changes the result is here, and is saved in ``run.json``."""

    backend: str = setting(
        "sam2", "sam2, or contrast: no weights, for dark animals on a light floor or light on dark",
        choices=BACKENDS,
    )
    model: str = setting("tiny", "SAM2 model size", applies="sam2", choices=MODEL_SIZES)
    sam_version: str = setting(
        "2.1", "SAM2 release the model is from", applies="sam2", choices=SAM_VERSIONS, title="SAM version",
    )
    checkpoint: str | None = setting(
        None, "SAM2 checkpoint file for the model", applies="sam2", metavar="PATH",
        none_means="the official one, downloaded once into the user cache and verified",
    )
    random_weights: bool = setting(
        False, "FOR TESTS AND BENCHMARKS ONLY: build SAM2 from a fixed seed with no checkpoint; the masks "
        "are meaningless but reproducible", applies="sam2",
    )
    image_size: int = setting(
        1024, "side of the square image SAM2 sees: 1024 as trained, 512 is faster (a multiple of 16)",
        applies="sam2",
    )
    device: str = setting(
        "auto", "where the models run: auto takes cuda, then mps, then the cpu", choices=DEVICES,
        changes_result=False,  # the same run may move between machines
    )
    chunk_size: int = setting(100, "frames per chunk: the unit of memory, saving and resuming")
    prune_window: int = setting(
        MIN_PRUNE_WINDOW, f"frames of SAM2 outputs kept behind the current one inside a chunk (at least "
        f"{MIN_PRUNE_WINDOW}: SAM2 looks that far back)", applies="sam2",
    )
    max_frames: int | None = setting(
        None, "track only the first N frames, to try settings on the start of a long video",
        metavar="N", none_means="all",
    )
    seed: int = setting(0, "seed of the random weights", applies="sam2")
    detector: str | None = setting(
        None, "an ultralytics YOLO model file (.pt) that finds the animals; at each chunk start it "
        "re-anchors drifting animals and finds lost ones", applies="detector", metavar="PATH", none_means="none",
    )
    detections: str | None = setting(
        None, "a CSV of boxes found by another tool (frame,x0,y0,x1,y1,confidence,class_id, optional "
        "class_name; pixels of the video), used wherever --detector is", applies="detector", metavar="CSV",
        none_means="none",
    )
    animals: int | None = setting(
        None, "keep exactly N animals for the whole video; with a detector and no --prompts, the animals "
        "are found by the detector", applies="detector", metavar="N", none_means="as many as prompted",
    )
    link: str = setting(
        "none", "link the detector's boxes on every frame into tracks with ultralytics' bytetrack or "
        "botsort, each box prompting the segmenter (no clicks); none: prompts and chunk re-anchoring",
        applies="detector", choices=LINKERS,
    )
    detector_conf: float = setting(0.5, "detections below this confidence are ignored", applies="detector")
    detector_classes: list[int] | None = setting(
        None, "keep only these detector class ids", applies="detector", metavar="ID", none_means="all",
    )
    detector_imgsz: int = setting(
        640, "side of the image the detector sees (and is trained at)", applies="detector",
    )
    train_detector: bool = setting(
        False, "train a detector on the first frames' own masks, save it as detector.pt in the output folder "
        "and use it for the rest of the video", applies="detector",
    )
    train_frames: int = setting(100, "how many of the first frames train the detector", applies="detector")
    detector_epochs: int = setting(30, "epochs of detector training", applies="detector")
    detector_patience: int = setting(
        10, "epochs without improvement before detector training stops", applies="detector",
    )
    reanchor_iou: float = setting(
        0.5, "re-prompt an animal with its detection when its mask overlaps the box less than this",
        applies="detector",
    )
    track_high_thresh: float = setting(
        0.25, "boxes at least this confident are linked first (ultralytics' track_high_thresh)", applies="link",
    )
    track_low_thresh: float = setting(
        0.1, "less confident boxes above this extend existing tracks only", applies="link",
    )
    new_track_thresh: float = setting(0.25, "a box this confident may start a new track", applies="link")
    track_buffer: int = setting(
        30, "frames a lost track is kept to be found again by the tracker", applies="link",
    )
    match_thresh: float = setting(0.8, "the tracker's association threshold (IoU cost)", applies="link")
    # not the yaml's sparseOptFlow: lab cameras stand still, and on the two-mice clip's bare floor the
    # compensation found too few points, warped every track away and lost both mice (docs/detector.md)
    gmc_method: str = setting(
        "none", "botsort's camera-motion compensation; none for a camera that does not move", applies="link",
        choices=GMC_METHODS,
    )
    arena: str | None = setting(
        None, "a mask image (non-zero inside) or a polygon 'y,x;y,x;...'; outside it is ignored",
        applies="contrast", metavar="FILE_OR_POLYGON",
        none_means="the whole frame",
    )
    threshold: float | None = setting(
        None, "grey levels the core of an animal differs from the local floor by (scaled to the typical "
        "floor's brightness)", applies="contrast", none_means="automatic, by Otsu's method",
    )
    low_threshold: float | None = setting(
        None, "grey levels down to which a mask grows from its core into the connected pixels that differ "
        "less (hysteresis: weak parts such as an abdomen or a tail); at most --threshold",
        applies="contrast", none_means="automatic, from the prompted animals",
    )
    min_area: int | None = setting(
        None, "smaller blobs are not animals (pixels)", applies="contrast",
        none_means="a fifth of the first prompted animal",
    )
    overlay: str | None = setting(
        None, "also write this video (.mp4): each label's outline, id and class name drawn on the frames, "
        "one frame per frame", metavar="OUT.mp4", none_means="none",
        changes_result=False,  # an output beside the labels: a resumed run may add or move it
    )

    def validate(self) -> TrackSettings:
        """Raise `UserInputError` naming the first bad setting; return self when all are good."""
        for field in dataclasses.fields(self):
            choices, value = field.metadata.get("choices"), getattr(self, field.name)
            if choices and value not in choices:
                raise UserInputError(
                    f"Unknown {field.metadata.get('title') or field.name} {value!r}; choose one of "
                    f"{', '.join(map(str, choices))}."
                )
        if self.image_size < 64 or self.image_size % 16:
            raise UserInputError(
                f"--image-size {self.image_size} is not usable; give a multiple of 16, at least 64 "
                "(1024 as SAM2 was trained, 512 for speed)."
            )
        if self.chunk_size < 2:
            raise UserInputError(f"--chunk-size {self.chunk_size} is too small; give at least 2 frames.")
        if self.prune_window < MIN_PRUNE_WINDOW:
            raise UserInputError(
                f"--prune-window {self.prune_window} is below {MIN_PRUNE_WINDOW}: SAM2 looks "
                f"{MIN_PRUNE_WINDOW} frames back for object pointers."
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise UserInputError(f"--max-frames {self.max_frames} must be at least 1.")
        if sum(map(bool, (self.detector, self.train_detector, self.detections))) > 1:
            raise UserInputError("Give one of --detector, --detections and --train-detector, not several.")
        if self.link != "none" and not (self.detector or self.detections):
            raise UserInputError(
                f"--link {self.link} links a detector's boxes: give --detector yolo.pt or --detections boxes.csv."
            )
        if self.link != "none" and self.animals is None:
            raise UserInputError(f"--link {self.link} needs --animals N: how many animals the video holds.")
        if self.animals is not None and not 1 <= self.animals <= 65535:
            raise UserInputError(f"--animals {self.animals} must be between 1 and 65535.")
        if not 0 <= self.track_low_thresh <= self.track_high_thresh <= 1 or not 0 <= self.new_track_thresh <= 1:
            raise UserInputError(
                "--track-low-thresh, --track-high-thresh and --new-track-thresh are confidences between 0 "
                "and 1, the low one at most the high one."
            )
        if self.track_buffer < 1 or not 0 < self.match_thresh <= 1:
            raise UserInputError("--track-buffer must be at least 1 frame and --match-thresh in (0, 1].")
        if not 0 < self.detector_conf < 1:
            raise UserInputError(f"--detector-conf {self.detector_conf} must be between 0 and 1.")
        if not 0 <= self.reanchor_iou <= 1:
            raise UserInputError(f"--reanchor-iou {self.reanchor_iou} must be between 0 and 1.")
        if self.train_frames < 5 or self.detector_epochs < 1 or self.detector_imgsz < 32:
            raise UserInputError(
                "--train-frames needs at least 5 frames, --detector-epochs at least 1 and "
                "--detector-imgsz at least 32."
            )
        if self.threshold is not None and not 0 < self.threshold < 255:
            raise UserInputError(f"--threshold {self.threshold} must be between 0 and 255 grey levels.")
        if self.low_threshold is not None and not 0 < self.low_threshold < 255:
            raise UserInputError(f"--low-threshold {self.low_threshold} must be between 0 and 255 grey levels.")
        if self.min_area is not None and self.min_area < 1:
            raise UserInputError(f"--min-area {self.min_area} must be at least 1 pixel.")
        if self.checkpoint and self.random_weights:
            raise UserInputError("Give either --checkpoint or --random-weights, not both.")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrackSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def uses(self, name: str) -> bool:
        """Whether this run reads setting ``name``: the other backend's settings, or the detector's in a
        run without one, change nothing."""
        applies = _fields_of(type(self))[name].metadata.get("applies", "all")
        if applies == "detector":
            return bool(self.detector or self.train_detector or self.detections)
        if applies == "link":
            return self.link != "none"
        return applies in ("all", self.backend)

    def result_defining(self) -> dict:
        """The settings that change this run's labels; a resumed run must match these exactly."""
        fields = _fields_of(type(self))
        return {
            name: value for name, value in self.to_dict().items()
            if fields[name].metadata.get("changes_result", True) and self.uses(name)
        }


@functools.cache
def _fields_of(cls) -> dict[str, dataclasses.Field]:
    return {field.name: field for field in dataclasses.fields(cls)}


APPLIES_TITLES = {
    "sam2": "SAM2 backend", "contrast": "contrast backend", "detector": "detector", "link": "box linking",
}


def _parameters_section(cls) -> str:
    """The numpydoc "Parameters" of ``cls``, from its fields' help, so the docstring never falls behind."""
    lines = ["", "", "Parameters", "----------"]
    for field in dataclasses.fields(cls):
        meta = field.metadata
        default = meta.get("none_means") if field.default is None else repr(field.default)
        where = f"{APPLIES_TITLES[meta['applies']]}: " if meta.get("applies", "all") != "all" else ""
        choices = f" One of {', '.join(map(str, meta['choices']))}." if meta.get("choices") else ""
        lines += [f"{field.name} : {field.type}", f"    {where}{meta.get('help', '')}.{choices} "
                  f"Default: {default}. Command line: ``{flag_of(field)}``."]
    return "\n".join(lines)


TrackSettings.__doc__ += _parameters_section(TrackSettings)


def setting_types(cls=TrackSettings) -> dict[str, type]:
    """Each field's annotation resolved (``"int | None"`` -> ``int | None``), for parsers and forms."""
    return typing.get_type_hints(cls)
