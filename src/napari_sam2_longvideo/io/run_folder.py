"""The output folder of a run: what it holds, whether it may be resumed, and its ``run.json``."""

from __future__ import annotations

import datetime
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

from ..errors import UserInputError
from ..settings import TrackSettings
from .files import write_atomically
from .run_lock import HOLDER_FILE, LOCK_FILE, RunLock

# Every name a run writes in its folder is here, and the engine takes its names from here too, so that
# starting over (`RunFolder.clear`) leaves nothing of the old run to be reused.
RUN_FILE = "run.json"
LABELS_ZARR = "labels.zarr"  # the labels (T, H, W), written chunk by chunk (`store.LabelStore`)
STORE_DIR = "store"  # beside it: which chunks are finished, and their per-frame records
LABELS_FILE = "labels.tif"
TRACKS_FILE = "tracks.csv"
BACKGROUND_FILE = "background.npy"  # the contrast backend's empty floor
CONTRAST_MODEL_FILE = "contrast.json"  # what the contrast backend learned with that floor
CONTRAST_HANDOVER_FILE = "contrast_tracks.npz"  # the contrast backend's tracks at the last chunk's end
DETECTOR_FILE = "detector.pt"  # the trained detector; `train_detector` writes the next two beside it
DETECTOR_METRICS_FILE = "detector_metrics.csv"
DETECTOR_TRAINING_DIR = "detector_training"
DETECTOR_DATA_DIR = "detector_data"  # its training images
REVIEW_FILE = "review.csv"  # the doubtful episodes, worst first (`sam2-longvideo review`)
CORRECTIONS_LOG = "corrections.jsonl"  # one line per correction in effect, oldest first
CORRECTIONS_DIR = "corrections"  # what each correction overwrote, for undo: corrections/0001/, ...
OUR_FILES = (
    RUN_FILE, LABELS_FILE, TRACKS_FILE, BACKGROUND_FILE, CONTRAST_MODEL_FILE, CONTRAST_HANDOVER_FILE,
    DETECTOR_FILE, DETECTOR_METRICS_FILE, REVIEW_FILE, CORRECTIONS_LOG,
)
OUR_FOLDERS = (LABELS_ZARR, STORE_DIR, DETECTOR_TRAINING_DIR, DETECTOR_DATA_DIR, CORRECTIONS_DIR)
# the live run's own (`run_lock`): starting over happens under that lock, so `clear` leaves them to it
LOCK_FILES = (LOCK_FILE, HOLDER_FILE)
VERSIONED_PACKAGES = ("napari-sam2-longvideo", "sam2", "torch", "torchvision", "numpy", "av", "tifffile")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class RunFolder:
    """``labels.tif``, ``tracks.csv``, ``run.json`` and the chunk store, in one folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.store_path = self.path / STORE_DIR
        self.labels_path = self.path / LABELS_FILE
        self.tracks_path = self.path / TRACKS_FILE
        self.run_path = self.path / RUN_FILE

    @staticmethod
    def check_path(path) -> Path:
        """Refuse an ``out`` that cannot be a folder, before anything is created; return it expanded."""
        path = Path(path).expanduser()
        if path.exists() and not path.is_dir():
            raise UserInputError(
                f"--out {path} is a file, not a folder. Give the folder to write the results in "
                "(it is created if it does not exist)."
            )
        return path

    @classmethod
    def claim(cls, path) -> tuple[RunLock, bool]:
        """Create the folder if needed and lock it for one run; return the lock and whether it was created.

        Raises `FolderInUseError` at once if another live run holds it. Taken before `prepare`, so that
        nothing in a folder another run holds is read, cleared (``--overwrite``) or written.
        """
        folder = cls(cls.check_path(path))
        created = not folder.path.exists()
        folder._ensure_writable()
        return RunLock(folder.path).acquire(), created

    @classmethod
    def prepare(
        cls, path, *, video: dict, prompts: str, settings: TrackSettings, overwrite: bool = False
    ) -> tuple[RunFolder, bool]:
        """Make the folder ready; return it and whether an earlier run in it is resumed.

        An earlier run is resumed only if it tracked the same video with the same prompts and the same
        settings; anything else is refused (or cleared, with ``overwrite``).
        """
        folder = cls(Path(path).expanduser())
        folder._ensure_writable()
        earlier = folder.read_metadata()
        if earlier is not None and overwrite:
            folder.clear()
            earlier = None
        if earlier is None:
            folder.clear()
            return folder, False
        differences = _differences(earlier, video, prompts, settings)
        if differences:
            held = f"Output folder {folder.path} holds a run of {'; '.join(differences)}."
            raise UserInputError(
                f"{held} Pass --overwrite to start over there, or choose another --out.",
                gui=f"{held} To track here anyway, tick 'start over' ({_what_starting_over_loses(earlier)}), "
                "or choose another output folder.",
            )
        return folder, folder.store_path.exists()

    def _ensure_writable(self) -> None:
        probe = self.path / ".write-test"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise UserInputError(
                f"Cannot write to the output folder {self.path}: {error.strerror or error}. "
                "Choose a folder you can write to with --out."
            ) from error

    def read_metadata(self) -> dict | None:
        if not self.run_path.exists():
            return None
        try:
            return json.loads(self.run_path.read_text())
        except ValueError as error:
            raise UserInputError(
                f"{self.run_path} is damaged ({error}); pass --overwrite to start the run over.",
                gui=f"{self.run_path} is damaged ({error}); tick 'start over' to track again there (that "
                "discards what the folder holds), or choose another output folder.",
            ) from error

    def write_metadata(self, values: dict) -> None:
        values = dict(values, updated=datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
        text = json.dumps(values, indent=2, default=str)
        write_atomically(self.run_path, lambda handle: handle.write(text.encode()))

    def clear(self) -> None:
        """Remove what this plugin wrote here, and nothing else."""
        for name in OUR_FILES:
            (self.path / name).unlink(missing_ok=True)
            # write_atomically's temporary files, left behind by a process that was killed mid-write
            for partial in self.path.glob(f"{name}.*.partial"):
                partial.unlink(missing_ok=True)
        for name in OUR_FOLDERS:
            if (self.path / name).exists():
                shutil.rmtree(self.path / name)


def _differences(earlier: dict, video: dict, prompts: str, settings: TrackSettings) -> list[str]:
    found = []
    video = json.loads(json.dumps(video, default=str))  # as it reads back from run.json
    if _whole_video(earlier.get("video", {})) != _whole_video(video):
        was = earlier.get("video", {}).get("path", "another video")
        found.append(f"a different video ({was}, not {video.get('path')})")
    elif _frames_tracked(video) < _frames_tracked(earlier["video"]):
        found.append(
            f"{_frames_tracked(earlier['video'])} frames, more than the {_frames_tracked(video)} asked for now "
            "(--max-frames; a run can be extended to more frames, not cut to fewer)"
        )
    if earlier.get("prompts", {}).get("sha256") != prompts:
        found.append("different prompts")
    was = TrackSettings.from_dict(earlier.get("settings", {}))
    # A setting counts when either run reads it: --model on two contrast runs changes nothing, but a
    # detector added (or dropped) since shows as the detector setting that differs.
    defining = was.result_defining().keys() | settings.result_defining().keys()
    defining -= {"max_frames"}  # compared above, as frames tracked: a longer run extends a shorter one
    before, now = was.to_dict(), settings.to_dict()
    changed = [f"{k} {before[k]!r} -> {now[k]!r}" for k in now if k in defining and before[k] != now[k]]
    if changed:
        found.append("other settings (" + ", ".join(changed) + ")")
    return found


def _what_starting_over_loses(earlier: dict) -> str:
    """"that discards its 400 tracked frames": what a run's metadata says starting over throws away."""
    frames = _frames_tracked(earlier.get("video", {}))
    chunk_size = earlier.get("settings", {}).get("chunk_size") or frames
    done = min(frames, int(earlier.get("chunks_done", 0)) * chunk_size)
    if earlier.get("status") == "finished":
        return f"that discards its finished result, all {frames} frames"
    return f"that discards the {done} of {frames} frames tracked there" if done else "nothing tracked there is lost"


def _whole_video(fingerprint: dict) -> dict:
    """The video's identity whatever part of it is tracked (`FirstFrames` adds ``first_frames``)."""
    return {k: v for k, v in fingerprint.items() if k != "first_frames"}


def _frames_tracked(fingerprint: dict) -> int:
    return fingerprint.get("first_frames", fingerprint.get("num_frames", 0))
