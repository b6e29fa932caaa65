"""The chunks of one video tracked independently (``--parallel-chunks``), then joined into one identity.

A chunk tracked on its own cannot start from the previous chunk's masks, so each chunk after the first
is prompted by the detector alone: its session begins on the previous chunk's last frame (the frame
the sequential tracker carries masks on, shared by the two chunks) and the animals are the boxes of the
first frame from there where the detector finds them all (numbered left to right, as a run without
clicks numbers them; where no frame has them all, the frame with the most). Those numbers are the
chunk's own. Joining, in chunk order, matches the chunk's masks on the shared frame to the previous
chunk's (already joined) masks there by the global assignment the tracker uses at every chunk start
(`assign_detections`: overlap and distance, one animal per mask), renumbers the chunk's labels and
records by that permutation, and only then marks the chunk finished in the store. The first chunk is
tracked first, alone, as the sequential run tracks it (from the clicks, or the run's first boxes):
what a backend learns from a run's first prompts (the contrast backend's floor and the animals' size,
kept in the run folder) is then the same for every chunk.

The chunks are run by the caller's ``run_chunks``, which may send them anywhere (`batch.chunk_tasks`
sends them to Dask workers); this module only decides what each chunk is and how they join.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..core.chunks import Chunk
from ..core.geometry import mask_box
from ..core.records import flag_jumps
from ..io.prompts import Prompts
from ..io.store import LabelStore
from .backends.base import SegmentationBackend
from .detection.assignment import assign_detections
from .detection.detector import Detector, detect_frame
from .detection.seeding import ChunkSeeds
from .events import ChunkDone, Event, RunFinished, RunStarted
from .tracker import _last_centers, _track_chunk


@dataclass
class ChunkResult:
    """One chunk tracked on its own, its frames already in the store, in the chunk's own numbering.

    ``records`` are the chunk's frames' records; ``shared`` the labels of the frame before the chunk as
    the chunk's session tracked them (None for the first chunk); ``prompt_frame`` the frame whose
    boxes prompted it (None where none did).
    """

    chunk: Chunk
    records: np.ndarray
    shared: np.ndarray | None
    prompt_frame: int | None
    seconds: float
    undetected: dict[int, list[int]] = field(default_factory=dict)


def chunk_start_boxes(detector: Detector, frames, animals, start: int, stop: int):
    """``(frame, {animal: box})``: the first frame of ``start..stop-1`` where ``detector`` finds as many
    animals as ``animals`` holds (else the frame with the most boxes), the most confident boxes numbered
    left to right then top to bottom, as `seeding.first_frame_with` numbers them; None with no box at all."""
    animals, best = list(animals), None
    for frame in range(start, stop):
        found = detect_frame(detector, frames, frame)
        if best is None or len(found) > len(best[1]):
            best = (frame, found)
        if len(found) >= len(animals):
            break
    if best is None or not len(best[1]):
        return None
    frame, found = best
    order = np.argsort(-np.asarray(found.confidences), kind="stable")[: len(animals)]
    boxes = sorted((found.boxes[i] for i in order), key=lambda b: (b[0], b[1]))
    return frame, dict(zip(animals, boxes))


def track_chunk_alone(
    frames,
    prompts: Prompts,
    backend: SegmentationBackend,
    store: LabelStore,
    chunk: Chunk,
    detector: Detector | None,
    animals,
) -> ChunkResult:
    """Track ``chunk`` with no other chunk's result, writing its frames (not its records) to ``store``.

    The first chunk is prompted by ``prompts`` (the clicks), or, without clicks, by the first boxes of
    `chunk_start_boxes` in it; every other chunk by the boxes `chunk_start_boxes` finds from the frame
    before it on (``prompts`` are not used there).
    """
    started = time.perf_counter()
    animals = list(animals)
    first = chunk.index == 0
    part = chunk if first else Chunk(chunk.index, chunk.start - 1, chunk.stop)
    seeds, prompt_frame = ChunkSeeds(), None
    if detector is not None and (not first or not len(prompts)):
        found = chunk_start_boxes(detector, frames, animals, part.start, part.stop)
        if found is not None:
            prompt_frame, boxes = found
            seeds.boxes = {a: (prompt_frame, box) for a, box in boxes.items()}
            seeds.reanchored = {(prompt_frame, a) for a in boxes}
        else:
            seeds.undetected = {a: list(range(part.start, part.stop)) for a in animals}
    clicks = prompts if first else Prompts([], source="no prompts")
    records, shared = [], None
    with store.chunk_writer(chunk) as writer:
        for frame, labels, frame_records in _track_chunk(frames, clicks, backend, part, seeds, animals, store.dtype):
            if frame < chunk.start:
                shared = labels
                continue
            writer.add(labels)
            flag_jumps(frame_records, records[-1] if records else None)
            records.append(frame_records)
        writer.finish_frames()
    records = np.concatenate(records)
    if not first and detector is not None:
        _record_start_detections(records, detector, frames, chunk, shared, animals)
    return ChunkResult(chunk, records, shared, prompt_frame, time.perf_counter() - started, seeds.undetected)


def _record_start_detections(records, detector, frames, chunk: Chunk, shared, animals) -> None:
    """``detector_conf`` on the chunk's first frame, as the sequential tracker records it there: the
    detections of that frame assigned to the animals' masks on the frame before."""
    found = detect_frame(detector, frames, chunk.start)
    last_boxes = {a: mask_box(shared == a) for a in animals}
    max_distance = 0.5 * float(np.hypot(frames.height, frames.width))
    matches = assign_detections(last_boxes, dict.fromkeys(animals), found.boxes, found.confidences,
                                max_distance=max_distance)
    for animal, match in matches.items():
        records["detector_conf"][(records["frame"] == chunk.start) & (records["animal"] == animal)] = match.confidence


def join_permutation(previous: np.ndarray, shared: np.ndarray, animals, last_centers: dict) -> dict[int, int]:
    """The chunk's own number -> the run's animal, from the two chunks' labels on their shared frame.

    ``previous`` holds the run's animals there (the previous chunk, joined), ``shared`` the chunk's own
    numbers. The chunk's masks are matched to the animals as detections are at a chunk start; the
    numbers left over (no mask, or none matched) take the animals left over, in order.
    """
    animals = list(animals)
    own = [a for a in animals if (shared == a).any()]
    last_boxes = {a: mask_box(previous == a) for a in animals}
    boxes = np.array([mask_box(shared == a) for a in own], float).reshape(-1, 4)
    max_distance = 0.5 * float(np.hypot(*shared.shape))  # as `seeding.seed_chunk` gates detections
    matches = assign_detections(last_boxes, last_centers, boxes, np.ones(len(own)), max_distance=max_distance)
    permutation = {own[m.detection]: animal for animal, m in matches.items()}
    unused = [a for a in animals if a not in permutation.values()]
    for number in animals:
        if number not in permutation:
            permutation[number] = unused.pop(0)
    return permutation


def renumber_records(records: np.ndarray, permutation: dict[int, int], animals) -> np.ndarray:
    """``records`` with each animal renumbered, in the run's animal order within each frame."""
    records = records.copy()
    records["animal"] = [permutation[int(a)] for a in records["animal"]]
    rank = {a: i for i, a in enumerate(animals)}
    order = np.lexsort(([rank[int(a)] for a in records["animal"]], records["frame"]))
    return records[order]


def track_parallel(
    frames, store: LabelStore, animals, run_chunks: Callable[[list[Chunk]], Iterable[ChunkResult]],
) -> Iterator[Event]:
    """Track the store's unfinished chunks through ``run_chunks``, joining each as its turn comes.

    ``run_chunks(chunks)`` tracks the given chunks (each with `track_chunk_alone`, anywhere) and yields
    their `ChunkResult` as they finish, in any order. The first chunk, where it is still to do, is
    given alone and finished first. Chunks are marked finished in order, so a stopped run resumes
    after the last joined chunk, as a sequential one does. Yields `RunStarted`, a `ChunkDone` per
    chunk, and `RunFinished`.
    """
    animals = list(animals)
    total, begun = len(frames), time.perf_counter()
    yield RunStarted(total, len(store.chunks), store.frames_done)
    todo = [c for c in store.chunks if not store.is_done(c.index)]
    if todo and todo[0].index > 0 and not store.is_done(todo[0].index - 1):
        raise RuntimeError(f"chunk {todo[0].index - 1} is missing from {store.folder}")
    groups = [todo[:1], todo[1:]] if todo and todo[0].index == 0 else [todo]
    waiting: dict[int, ChunkResult] = {}
    joined = _Joined(store, animals)
    tracked = 0
    for group in groups:
        if not group:
            continue
        next_index, results = group[0].index, iter(run_chunks(group))
        try:
            for result in results:
                waiting[result.chunk.index] = result
                while next_index in waiting:
                    result = waiting.pop(next_index)
                    joined.add(result)
                    tracked += len(result.chunk)
                    last = store[result.chunk.stop - 1]
                    lost = tuple(a for a in animals if not (last == a).any())
                    yield ChunkDone(result.chunk, len(store.chunks), store.frames_done, total, result.seconds, lost,
                                    result.undetected)
                    next_index += 1
        finally:  # stopped (Ctrl-C, Cancel) or failed: the chunks still running are not waited for
            getattr(results, "close", lambda: None)()
    yield RunFinished(total, tracked, time.perf_counter() - begun)


class _Joined:
    """The chunks joined so far: where each animal was last seen, and the last frame's records."""

    def __init__(self, store: LabelStore, animals):
        self.store, self.animals = store, list(animals)
        earlier = store.records() if store.frames_done else None  # resuming: read once
        self.last_centers = _last_centers(earlier, self.animals) if earlier is not None else dict.fromkeys(self.animals)
        self.before = earlier[earlier["frame"] == earlier["frame"].max()] if earlier is not None else None

    def add(self, result: ChunkResult) -> None:
        """Renumber ``result``'s chunk into the run's animals and mark it finished in the store."""
        chunk, records = result.chunk, result.records
        if chunk.index > 0:
            permutation = join_permutation(self.store[chunk.start - 1], result.shared, self.animals, self.last_centers)
            if any(number != animal for number, animal in permutation.items()):
                lookup = np.arange(max(self.animals) + 1)
                lookup[list(permutation)] = list(permutation.values())
                self.store.map_labels(chunk, lookup)
            records = renumber_records(records, permutation, self.animals)
        first = records["frame"] == chunk.start
        head = records[first]  # a copy: flagged, then put back
        flag_jumps(head, self.before if chunk.index > 0 else None)
        records[first] = head
        self.store.mark_done(chunk, records)
        self.last_centers.update(_last_centers(records, self.animals, only_seen=True))
        self.before = records[records["frame"] == chunk.stop - 1]
