"""Chunked tracking: prompts in, one label per animal per frame out, written to the store chunk by chunk.

Each chunk is its own backend session, so the backend's memory never holds more than one chunk. The
session of chunk k also holds the last frame of chunk k-1, where every animal's final mask is put as
that animal's prompt: identities are carried by the animal id, never by the backend's order. User
prompts on any frame are given to the chunk that holds the frame. Where an animal's first prompt in a
chunk is not the chunk's first frame, the frames before it are filled by propagating backward.

`track` is a generator of events; the caller decides how to show them and may stop at any event.
Finished chunks are already on disk then, and a new call resumes after them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

import numpy as np

from ..core.chunks import Chunk
from ..core.records import UsualAreas, flag_jumps
from ..io.prompts import Prompts
from ..io.source import FrameSource
from ..io.store import LabelStore
from .backends.base import FramePrediction, SegmentationBackend
from .detection.seeding import ChunkSeeds, seed_chunk
from .events import ChunkDone, Event, FrameTracked, RunFinished, RunStarted
from .overlaps import frame_records, resolve_claims, resolve_overlaps

# The most trailing blank frames (no animal seen) that carrying looks back over.
MAX_BLANK_FRAMES = 15


def track(
    frames: FrameSource,
    prompts: Prompts,
    backend: SegmentationBackend,
    store: LabelStore,
    detectors=None,
    reanchor_iou: float = 0.5,
    animals=None,
    links=None,
    start_boxes: tuple[int, dict] | None = None,
) -> Iterator[Event]:
    """Track the prompted animals through ``frames`` into ``store``, skipping chunks it already has.

    The store's chunk plan decides the chunks; finished chunks must form a prefix of the plan (they
    do when this function wrote them). ``detectors``, when given, has a generator method
    ``for_chunk(chunk, store)`` that may yield progress events and returns the detector to seed that
    chunk with (or None); see `seeding`. ``animals`` are the labels to keep (the prompted ones by
    default). ``links``, for a detector-linked run, has a method ``for_chunk(chunk)`` giving every
    frame's linked boxes (`linking.LinkSchedule`): each prompts its animal on its frame.
    ``start_boxes``, ``(frame, {animal: box})``, prompt a run without clicks: the frames before are
    blank, and the detector re-anchors from the chunk after.
    """
    animals = list(animals) if animals is not None else prompts.animals
    total = len(frames)
    begun = time.perf_counter()
    yield RunStarted(total, len(store.chunks), store.frames_done)
    earlier = store.records() if store.frames_done else None
    last_centers = _last_centers(earlier, animals) if earlier is not None else dict.fromkeys(animals)
    usual_areas = UsualAreas(earlier)  # what the `merged` flags compare each mask with
    tracked = 0
    # (index, carry_masks of its last frames, its last frame's records) of the chunk this call wrote
    # last: what the next chunk starts from, without reading the chunk back
    written = None
    for chunk in store.chunks:
        if store.is_done(chunk.index):
            continue
        started = time.perf_counter()
        seeds, before = ChunkSeeds(), None  # before: the last frame's records, to see jumps across chunks
        if chunk.index > 0:
            if not store.is_done(chunk.index - 1):
                raise RuntimeError(f"chunk {chunk.index - 1} is missing from {store.folder}")
            detector = (yield from detectors.for_chunk(chunk, store)) if detectors is not None else None
            if start_boxes is not None and chunk.start <= start_boxes[0]:
                detector = None  # no animal is known before its first boxes: none is lost
            previous = store.chunks[chunk.index - 1]
            if written is not None and written[0] == previous.index:
                (carried_frame, carry), before = written[1:]
            else:  # resuming: the chunk before was written by an earlier run; its last frames suffice
                first = max(previous.start, previous.stop - (MAX_BLANK_FRAMES + 1))
                carried_frame, carry = carry_masks(store[first : previous.stop], animals, first)
                previous_records = store.chunk_records(previous.index)
                before = previous_records[previous_records["frame"] == chunk.start - 1]
            seeds = seed_chunk(frames, chunk, carry, last_centers, detector, reanchor_iou=reanchor_iou)
            seeds.mask_frame = carried_frame
        if links is not None:
            linked = links.for_chunk(chunk)
            seeds.linked = linked.boxes
            seeds.assignments += linked.assignments
        if start_boxes is not None and chunk.start <= start_boxes[0] < chunk.stop:
            seeds.boxes.update({a: (start_boxes[0], box) for a, box in start_boxes[1].items()})
            seeds.reanchored.update((start_boxes[0], a) for a in start_boxes[1])
        last_frames = deque(maxlen=MAX_BLANK_FRAMES + 1)  # all that `carry_masks` looks at
        records = []
        store.save_assignments(chunk.index, seeds.assignments)  # before the chunk is done: resuming redoes both
        with store.chunk_writer(chunk) as writer:
            for frame, frame_labels, frame_record in _track_chunk(
                frames, prompts, backend, chunk, seeds, animals, store.dtype
            ):
                writer.add(frame_labels)
                last_frames.append(frame_labels)
                flag_jumps(frame_record, records[-1] if records else before)
                usual_areas.flag_merged(frame_record)
                usual_areas.add(frame_record)
                records.append(frame_record)
                tracked += 1
                yield FrameTracked(frame, store.frames_done + frame - chunk.start + 1, total)
            records = np.concatenate(records)
            writer.finish(records)
        last_centers.update(_last_centers(records, animals, only_seen=True))
        carried = carry_masks(np.stack(last_frames), animals, chunk.stop - len(last_frames))
        written = (chunk.index, carried, records[records["frame"] == chunk.stop - 1])
        lost = tuple(a for a, mask in carried[1].items() if not mask.any())
        yield ChunkDone(
            chunk, len(store.chunks), store.frames_done, total, time.perf_counter() - started, lost,
            seeds.undetected,
        )
    yield RunFinished(total, tracked, time.perf_counter() - begun)


def track_from(
    frames: FrameSource,
    prompts: Prompts,
    backend: SegmentationBackend,
    chunks: list[Chunk],
    start: int,
    masks: dict[int, np.ndarray],
    dtype,
    usual_areas: UsualAreas | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Track from frame ``start`` on, where the animals are given: the run started over mid-video.

    On ``start`` each animal of ``masks`` is prompted with its mask and the animals of ``prompts`` with
    their points there (a correction gives the clicked animals points and the others their current
    masks, so they keep their identities). From then on it is `track`: one backend session per chunk
    of ``chunks`` (the run's plan; the first is cut to begin at ``start``), each animal's last mask
    carried into the next. Yields ``(frame, labels, records)`` per frame to the end of the video; the
    caller writes what it keeps and may stop at any frame (a correction stops where the old result is
    rejoined). Nothing is written here. ``usual_areas``, from the records before ``start``, lets the
    ``merged`` flags compare each mask with the animal's usual area as the run did.
    """
    usual_areas = usual_areas if usual_areas is not None else UsualAreas()
    animals = sorted(set(masks) | set(prompts.animals))
    seeds = ChunkSeeds(mask_frame=start, masks={a: m for a, m in masks.items() if m.any()})
    before = None  # the last frame's records, for the jump flags
    for chunk in (c for c in chunks if c.stop > start):
        part = Chunk(chunk.index, max(chunk.start, start), chunk.stop)
        last_frames = deque(maxlen=MAX_BLANK_FRAMES + 1)
        for frame, frame_labels, frame_record in _track_chunk(frames, prompts, backend, part, seeds, animals, dtype):
            flag_jumps(frame_record, before)
            usual_areas.flag_merged(frame_record)
            usual_areas.add(frame_record)
            before = frame_record
            last_frames.append(frame_labels)
            yield frame, frame_labels, frame_record
        carried_frame, carry = carry_masks(np.stack(last_frames), animals, part.stop - len(last_frames))
        seeds = seed_chunk(frames, chunk, carry, {}, None)
        seeds.mask_frame = carried_frame


def carry_masks(labels: np.ndarray, animals, first_frame: int, max_blank: int = MAX_BLANK_FRAMES):
    """``(frame, masks)``: each animal's mask to carry into the next chunk, and the frame it is from.

    Normally the previous chunk's last frame. When that chunk ends on frames where no animal at all is
    seen (black or white frames, a lens cap), every animal carries its mask from the last frame before
    them: all at once, so no animal can take another's place, and none is lost for the rest of the video.
    ``labels`` are the previous chunk's, whose first frame is ``first_frame``.
    """
    last = len(labels) - 1
    while last > 0 and not labels[last].any() and len(labels) - 1 - last < max_blank:
        last -= 1
    if not labels[last].any():
        last = len(labels) - 1
    return first_frame + last, {a: labels[last] == a for a in animals}


def _last_centers(records: np.ndarray, animals, only_seen: bool = False) -> dict[int, np.ndarray | None]:
    """Where each animal was last seen in ``records``, ``(y, x)``; None for animals never seen there
    (left out with ``only_seen``)."""
    centers = {} if only_seen else dict.fromkeys(animals)
    seen = records[~records["lost"]]
    for animal in animals:
        rows = seen[seen["animal"] == animal]
        if len(rows):
            centers[animal] = np.array([rows[-1]["centroid_y"], rows[-1]["centroid_x"]])
    return centers


def _track_chunk(frames, prompts, backend, chunk: Chunk, seeds: ChunkSeeds, animals, dtype):
    """Yield ``(frame, labels, records)`` for every frame of ``chunk`` in order."""
    window_start = seeds.mask_frame if seeds.mask_frame is not None else chunk.start
    session = backend.start_session(frames, window_start, chunk.stop)
    try:
        anchors: dict[int, int] = {}  # animal -> its first prompted frame in this session
        for animal, mask in seeds.masks.items():
            session.add_mask(window_start, animal, mask)
            anchors[animal] = window_start
        for animal, (frame, box) in sorted(seeds.boxes.items(), key=lambda item: item[1][0]):
            session.add_box(frame, animal, box)
            anchors[animal] = min(anchors.get(animal, frame), frame)
        for frame, boxes in seeds.linked.items():
            for animal, linked in boxes.items():
                session.add_box(frame, animal, linked.box)
                anchors[animal] = min(anchors.get(animal, frame), frame)
        prompted: dict[int, set[int]] = {}
        for group in prompts.groups(chunk.start, chunk.stop):
            session.add_points(group.frame, group.animal, group.points_yx, group.positive)
            anchors[group.animal] = min(anchors.get(group.animal, group.frame), group.frame)
            prompted.setdefault(group.frame, set()).add(group.animal)

        # Animals first prompted after the chunk's first frame are filled backward from their prompt.
        late = {a: f for a, f in anchors.items() if f > chunk.start}
        backward: dict[int, FramePrediction] = {}
        if late:
            for prediction in session.propagate(max(late.values()), reverse=True):
                if prediction.frame >= chunk.start:
                    backward[prediction.frame] = _select(
                        prediction, [a for a in late if late[a] > prediction.frame], np.float16
                    )

        forward_from = min(anchors.values()) if anchors else chunk.stop
        forward = session.propagate(forward_from) if anchors else iter(())
        for frame in range(chunk.start, chunk.stop):
            parts = [backward.pop(frame)] if frame in backward else []
            if frame >= forward_from:
                prediction = next(forward)
                while prediction.frame < frame:  # the carried frame, which belongs to the last chunk
                    prediction = next(forward)
                parts.append(_select(prediction, [a for a in anchors if anchors[a] <= frame]))
            yield (frame,) + _label_frame(frame, parts, animals, dtype, prompted.get(frame, set()), frames, seeds)
    finally:
        session.close()


def _select(prediction: FramePrediction, animals, dtype=np.float32) -> FramePrediction:
    """The rows of ``prediction`` for ``animals`` only (dense logits as ``dtype``)."""
    rows = [i for i, a in enumerate(prediction.animal_ids) if a in animals]
    dense = prediction.logits
    if len(rows) == len(prediction.animal_ids) and (dense is None or dense.dtype == dtype):
        return prediction  # all of it: no copy of the logits
    return FramePrediction(
        prediction.frame,
        tuple(prediction.animal_ids[i] for i in rows),
        None if dense is None else dense[rows].astype(dtype, copy=False),
        prediction.scores[rows],
        None if prediction.bounds is None else prediction.bounds[rows],
        None if prediction.claims is None else tuple(prediction.claims[i] for i in rows),
    )


def _label_frame(frame, parts, animals, dtype, prompted, frames, seeds):
    ids = tuple(a for p in parts for a in p.animal_ids)
    height, width = frames.height, frames.width
    if len(parts) == 1:
        scores, bounds = parts[0].scores, parts[0].bounds
    elif parts:
        scores = np.concatenate([p.scores for p in parts])
        bounds = np.concatenate([p.bounds_or_frame(height, width) for p in parts])
    else:
        scores, bounds = np.zeros(0, np.float32), None
    if parts and all(p.claims is not None for p in parts):
        claims = tuple(pairs for p in parts for pairs in p.claims)
        labels, merged = resolve_claims(claims, ids, dtype, (height, width), bounds)
    else:
        dense = [p.dense_logits(height, width) for p in parts] or [np.zeros((0, height, width), np.float32)]
        logits = dense[0] if len(dense) == 1 else np.concatenate(dense)  # one part: no copy
        labels, merged = resolve_overlaps(logits, ids, dtype, bounds)
    records = frame_records(
        frame,
        labels,
        animals,
        scores=dict(zip(ids, scores.tolist())),
        merged=dict(zip(ids, merged.tolist())),
        prompted=prompted,
        reanchored={a for f, a in seeds.reanchored if f == frame},
        detector_conf={a: c for (f, a), c in seeds.detector_conf.items() if f == frame},
        bounds=None if bounds is None else dict(zip(ids, bounds)),
    )
    for row in records:
        linked = seeds.linked.get(frame, {}).get(int(row["animal"]))
        if linked is not None:
            row["track_id"], row["class_id"], row["track_score"] = linked.track_id, linked.class_id, linked.score
            row["detector_conf"] = linked.confidence
    return labels, records
