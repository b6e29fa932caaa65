"""One tracking run from a video, prompts and settings to the files in an output folder.

This is what the command line and the napari widget both call. It checks everything a user can get
wrong before any work starts and before anything is written, holds the folder's lock for the whole run
(one run per folder), resumes an earlier run in the same folder, and writes ``labels.tif``,
``tracks.csv`` and ``run.json`` when the last chunk is done.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

from .core.chunks import chunk_plan
from .core.records import label_dtype
from .engine.backends.base import SegmentationBackend
from .engine.detection.detector import class_names_of
from .engine.detection.linking import TRACKER_OPTIONS, BoxLinker, LinkSchedule
from .engine.detection.schedule import DetectorSchedule, load_detector
from .engine.detection.seeding import first_frame_with
from .engine.events import ChunkDone, Preparing, ResultsWritten
from .engine.parallel import track_parallel
from .engine.tracker import track
from .errors import UserInputError
from .io.detections import read_detections_csv
from .io.excerpt import FirstFrames
from .io.export import write_labels_tiff, write_tracks_csv
from .io.frames import open_frames
from .io.overlay import check_overlay_path, track_captions, write_overlay
from .io.prompts import Prompts
from .io.run_folder import RunFolder, package_versions
from .io.source import FrameSource
from .io.store import LabelStore
from .settings import TrackSettings


def make_backend(settings: TrackSettings, frames=None, folder=None, download_progress=None) -> SegmentationBackend:
    """The backend the settings name; the contrast backend keeps its background in ``folder``."""
    if settings.backend == "contrast":
        from .engine.backends.contrast.backend import ContrastBackend

        return ContrastBackend(settings, frames, folder)
    from .engine.backends.sam2.video_predictor import (
        SAM2Backend,  # torch and sam2 load only when a run needs them
    )

    return SAM2Backend(settings, download_progress=download_progress)


def run_tracking(
    source,
    prompts: Prompts,
    settings: TrackSettings,
    out,
    *,
    overwrite: bool = False,
    backend: SegmentationBackend | None = None,
    download_progress=None,
    chunk_runner=None,
) -> Iterator:
    """Track, yielding a `Preparing` before each slow start-up step, the tracker's events, and finally
    `ResultsWritten`.

    Parameters
    ----------
    source : str, Path, FrameSource or array
        The video (any input `open_frames` takes).
    prompts : Prompts
        The user's points.
    settings : TrackSettings
        How to track.
    out : str or Path
        Output folder; an earlier run there with the same video, prompts and settings is resumed.
    overwrite : bool
        Start over in ``out`` whatever it holds.
    backend : SegmentationBackend, optional
        Defaults to the one ``settings`` names.
    chunk_runner : callable, optional
        ``--parallel-chunks``: ``chunk_runner(frames, prompts, settings, folder, animals)`` gives the
        ``run_chunks`` of `engine.parallel.track_parallel`, which tracks chunks independently (on Dask
        workers: `batch.chunks.dask_chunk_runner`); the chunks are then joined here. Refused where the
        chunks after the first are not prompted by a detector.
    """
    if isinstance(source, (str, os.PathLike)):
        yield Preparing("opening the video")  # a long video is indexed first; an array opens at once
    frames, fingerprint = _checked_inputs(source, prompts, settings, out)
    animals = run_animals(prompts, settings)
    if chunk_runner is not None:
        check_parallel_chunks(prompts, settings)
    lock, created = RunFolder.claim(out)  # a folder another live run holds is refused here, untouched
    try:
        # the user's detector is loaded before the folder is prepared: a bad model file changes nothing
        links, detectors = None, None
        if settings.detector:
            yield Preparing("loading the detector")
        if settings.link != "none":
            links = _link_schedule(settings, frames, animals, backend)
        else:
            detectors = _detector_schedule(settings, lock.folder, frames, animals, backend)
        start_boxes = None
        if not len(prompts) and links is None:
            yield Preparing("looking for the first frame where the detector finds every animal")
            start_boxes = _start_boxes(detectors, frames, animals)
        folder, resuming = RunFolder.prepare(
            out, video=frames.fingerprint(), prompts=fingerprint, settings=settings, overwrite=overwrite
        )
        if resuming and bool((folder.read_metadata() or {}).get("parallel_chunks")) != (chunk_runner is not None):
            was = "with" if chunk_runner is None else "without"
            raise UserInputError(
                f"Output folder {folder.path} holds a run tracked {was} --parallel-chunks; resume it the same way, "
                "or pass --overwrite to start over there."
            )
        plan = chunk_plan(len(frames), settings.chunk_size)
        shape = (len(frames), frames.height, frames.width)
        if resuming:
            store = LabelStore.open(folder.path)
            store.extend(len(frames))  # a longer --max-frames than before goes on from the last finished frame
            plan = store.chunks
        else:
            store = LabelStore.create(folder.path, shape, label_dtype(animals), plan)
        earlier = folder.read_metadata() if resuming else None
        owned = backend is None  # a backend made here is closed here; one given is the caller's to close
        try:
            if chunk_runner is None:
                if backend is None:
                    yield Preparing(f"loading the {settings.backend} model" if settings.backend == "sam2"
                                    else "starting the contrast backend")
                    backend = make_backend(settings, frames, folder.path, download_progress)
                step = getattr(backend, "preparing", lambda: None)()  # work its first frame waits for
                if step:
                    yield Preparing(step)
                tracker = track(frames, prompts, backend, store, detectors, settings.reanchor_iou, animals, links,
                                start_boxes)
            else:  # the chunks' tasks make their own backends
                owned, run_chunks = False, chunk_runner(frames, prompts, settings, folder.path, animals)
                tracker = track_parallel(frames, store, animals, run_chunks)
            try:
                yield from _track_into(
                    folder, frames, prompts, settings, backend, store, plan, earlier, detectors, animals, links,
                    fingerprint, start_boxes, tracker,
                )
            finally:
                if owned:
                    backend.close()
        except Exception:
            if not resuming and not store.done_chunks:
                folder.clear()  # failed before finishing a chunk: no empty store and no run.json are left
            raise
        yield ResultsWritten(folder.labels_path, folder.tracks_path, folder.run_path)
    finally:
        # released however the run ends: finished, failed, or its generator closed (Ctrl-C, Cancel)
        lock.release(remove_empty_folder=created)


def _checked_inputs(source, prompts: Prompts, settings: TrackSettings, out) -> FrameSource:
    """Everything that can be checked without the output folder, checked before it is created or locked.

    Returns the frames the run tracks (the first ``max_frames`` with ``--max-frames``) and the
    fingerprint of what prompts the run (the prompts, and the boxes of ``--detections``).
    """
    settings.validate()
    RunFolder.check_path(out)
    if settings.overlay:
        check_overlay_path(settings.overlay)
    if settings.backend == "sam2" and settings.checkpoint and not settings.random_weights:
        from .engine.backends.sam2.checkpoints import check_checkpoint_file, model_spec

        check_checkpoint_file(model_spec(settings.model, settings.sam_version), settings.checkpoint)
    frames = source if isinstance(source, FrameSource) else open_frames(source)
    whole = frames
    limited = settings.max_frames is not None and settings.max_frames < len(frames)
    if limited:
        frames = FirstFrames(frames, settings.max_frames)
    if settings.link != "none" and len(prompts):
        raise UserInputError(
            f"--link {settings.link} labels the animals itself, from the detector's boxes; leave out the prompts "
            f"({prompts.source}), or leave out --link to track from them."
        )
    if len(prompts) or settings.animals is None or not (settings.detector or settings.detections):
        prompts.validate(
            len(frames), frames.height, frames.width, frames.path, max_frames=settings.max_frames if limited else None
        )
    if settings.detections:
        table = read_detections_csv(settings.detections)
        table.check_video(len(whole), whole.height, whole.width, whole.path)  # boxes past --max-frames wait
    return frames, prompting_fingerprint(prompts, settings)


def prompting_fingerprint(prompts: Prompts, settings: TrackSettings) -> str:
    """The fingerprint of what prompts a run, as ``run.json`` keeps it: the prompts, and the boxes of
    ``--detections`` (a resumed or skipped run must have the same)."""
    fingerprint = prompts.fingerprint()
    if settings.detections:
        fingerprint += ":" + read_detections_csv(settings.detections).fingerprint()
    return fingerprint


def starts_without_clicks(settings: TrackSettings) -> bool:
    """Whether a run needs no clicks: the detector's (or the boxes file's) boxes find ``--animals`` animals."""
    return settings.link != "none" or bool(settings.animals and (settings.detector or settings.detections))


def check_parallel_chunks(prompts: Prompts, settings: TrackSettings) -> None:
    """``--parallel-chunks`` needs a detector that prompts every chunk after the first, and clicks (if
    any) on the first chunk only: a chunk tracked on its own cannot start from the chunk before."""
    if not (settings.detector or settings.detections) or settings.link != "none":
        what = (f"--link {settings.link} links the boxes through the whole video in order" if settings.link != "none"
                else "--train-detector's detector exists only once the first frames are tracked"
                if settings.train_detector else "without a detector, each chunk starts from the masks of the one before")
        raise UserInputError(
            f"--parallel-chunks tracks the chunks of a video at the same time, each prompted by a detector's boxes "
            f"on its first frame; here {what}, so the chunks must run one after another. Give --detector yolo.pt "
            "or --detections boxes.csv (without --link), or leave out --parallel-chunks."
        )
    late = sorted(f for f in set(prompts.frame.tolist()) if f >= settings.chunk_size)
    if late:
        raise UserInputError(
            f"--parallel-chunks prompts every chunk after the first by the detector alone, but {prompts.source} has "
            f"clicks on frame {late[0]}, after the first chunk (frames 0-{settings.chunk_size - 1}). Move them into "
            "the first chunk, or leave out --parallel-chunks."
        )


def run_animals(prompts: Prompts, settings: TrackSettings) -> list[int]:
    """The labels of the run: the prompted animals, and up to ``--animals`` of them (the new ones
    numbered after the prompted ones, for the detector to find)."""
    prompted = prompts.animals
    if settings.animals is None:
        return prompted
    if settings.animals < len(prompted):
        raise UserInputError(
            f"--animals {settings.animals} is fewer than the {len(prompted)} animals prompted in {prompts.source} "
            f"({', '.join(map(str, prompted))}); raise --animals or remove the prompts of the extra animals."
        )
    extra = [a for a in range(1, settings.animals + len(prompted) + 1) if a not in prompted]
    return prompted + extra[: settings.animals - len(prompted)]


def _detector_schedule(settings: TrackSettings, folder: Path, frames, animals, backend):
    """The run's detectors, with ``--detector``'s model loaded (and so checked) now; None without one."""
    if not (settings.detector or settings.train_detector or settings.detections):
        return None
    return DetectorSchedule(settings, folder, frames, animals, _device_of(backend, settings))


def _link_schedule(settings: TrackSettings, frames, animals, backend) -> LinkSchedule:
    """The detector's boxes on every frame, linked by ultralytics' tracker into ``animals``."""
    detector = load_detector(settings, _device_of(backend, settings))
    options = {name: getattr(settings, name) for name in TRACKER_OPTIONS}
    return LinkSchedule(BoxLinker(detector, settings.link, animals, options), frames)


def _track_into(
    folder: RunFolder, frames, prompts, settings, backend, store, plan, earlier, detectors, animals, links,
    fingerprint, start_boxes, events,
) -> Iterator:
    """The run itself: ``run.json`` kept up to date, the tracker's events, then the files."""
    metadata = {
        "status": "running",
        "video": frames.fingerprint(),
        "video_info": frames.info,
        "prompts": {"sha256": fingerprint, "source": prompts.source, "rows": prompts.rows()},
        "animals": animals,
        "settings": settings.to_dict(),
        "backend": backend.describe() if backend is not None else {"backend": settings.backend},
        "parallel_chunks": backend is None,
        "versions": package_versions(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "chunks": len(plan),
        "chunks_done": len(store.done_chunks),
    }
    folder.write_metadata(metadata)
    undetected = metadata["frames_without_detection"] = dict((earlier or {}).get("frames_without_detection", {}))
    finished = False
    linker = links.linker if links is not None else None
    try:
        if start_boxes is not None:
            metadata["start_boxes"] = {"frame": start_boxes[0], "boxes": {str(a): b.tolist() for a, b in start_boxes[1].items()}}
        for event in events:
            if isinstance(event, ChunkDone):
                metadata["chunks_done"] = len(store.done_chunks)
                if linker is not None:
                    metadata["ignored_tracks"] = {str(t): [i.first, i.last] for t, i in linker.ignored.items()}
                for animal, missed in event.undetected.items():
                    undetected.setdefault(str(animal), []).extend(missed)
                folder.write_metadata(metadata)
            yield event
        if linker is not None and linker.next_frame >= len(frames) and linker.boxes_seen == 0:
            raise UserInputError(
                f"The detector found nothing in the whole of {frames.path} ({len(frames)} frames): check "
                "--detector-conf, --detector-classes, or that the model was trained on these animals."
            )
        write_labels_tiff(store, folder.labels_path)
        records, class_names = store.records(), _class_names(settings, linker, detectors)
        write_tracks_csv(records, folder.tracks_path, frames.timestamps_s(), class_names)
        if settings.overlay:
            metadata["overlay"] = str(write_overlay(settings.overlay, frames, store, track_captions(records, class_names)))
        finished = True
    except Exception as error:
        metadata["error"] = str(error)
        raise
    finally:
        metadata["status"] = "finished" if finished else ("failed" if "error" in metadata else "stopped")
        metadata["chunks_done"] = len(store.done_chunks)
        folder.write_metadata(metadata)


def _start_boxes(detectors, frames, animals):
    """Where a run without clicks starts: the first frame on which the detector finds every animal."""
    found = first_frame_with(detectors.detector, frames, animals)
    if found is None:
        raise UserInputError(
            f"The detector never finds {len(animals)} animals on one frame of {frames.path} ({len(frames)} "
            "frames), so nothing can start the tracking: lower --detector-conf, give --prompts, or use --link."
        )
    return found


def _class_names(settings, linker, detectors) -> dict[int, str]:
    """Class id -> name for ``tracks.csv``, from whichever detector the run used."""
    detector = linker.detector if linker is not None else getattr(detectors, "detector", None)
    return class_names_of(detector) if detector is not None else {}


def _device_of(backend, settings: TrackSettings):
    """Run the detector where the backend runs (the backend made from ``settings`` runs on this device)."""
    device = getattr(backend, "device", None)
    if device is not None:
        return device
    from .engine.devices import pick_device

    return pick_device(settings.device)
