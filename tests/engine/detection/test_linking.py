"""BoxLinker: ultralytics' trackers link boxes; identities stay fixed when the tracker's ids do not."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2_longvideo.core.chunks import Chunk
from napari_sam2_longvideo.engine.detection.detector import Detections
from napari_sam2_longvideo.engine.detection.linking import BoxLinker, LinkSchedule


class Frames:
    height, width = 200, 300

    def read(self, frame):
        return np.full((self.height, self.width, 3), 128, np.uint8)


class ListDetector:
    """Boxes given per frame: ``boxes[frame]`` is a list of ``(x0, y0, x1, y1, confidence)``."""

    needs_image = False

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image, frame=None):
        rows = np.array(self.boxes.get(frame, []), float).reshape(-1, 5)
        return Detections(rows[:, :4], rows[:, 4], np.zeros(len(rows), np.int64))


def walking(frame, start_x, y, step=2.0):
    x = start_x + step * frame
    return (x, y, x + 30, y + 20)


@pytest.mark.parametrize("kind", ["bytetrack", "botsort"])
def test_a_new_track_after_a_gap_gets_the_lost_identity_back(kind):
    boxes = {}
    for frame in range(60):
        boxes[frame] = [(*walking(frame, 160, 150, -1.0), 0.9)]
        if not 20 <= frame < 32:  # animal A unseen for 12 frames: longer than the tracker bridges
            boxes[frame].insert(0, (*walking(frame, 10, 20), 0.8))
    linker = BoxLinker(ListDetector(boxes), kind, [1, 2], {"track_buffer": 3})
    linked = [linker.link(Frames(), f) for f in range(60)]
    a_before, a_after = linked[10], linked[45]
    identity_a = next(a for a, b in a_before.items() if b.box[1] < 100)
    assert next(a for a, b in a_after.items() if b.box[1] < 100) == identity_a
    assert a_after[identity_a].track_id != a_before[identity_a].track_id  # the tracker's id did change
    assert all(identity_a not in linked[f] for f in range(20, 32))
    assert {a for frame in linked for a in frame} == {1, 2}


def test_extra_tracks_are_ignored_and_recorded():
    boxes = {f: [(*walking(f, 10, 20), 0.9), (*walking(f, 160, 150, -1.0), 0.85), (250, 5, 280, 25, 0.5)]
             for f in range(30)}
    linker = BoxLinker(ListDetector(boxes), "bytetrack", [1, 2])
    linked = [linker.link(Frames(), f) for f in range(30)]
    assert all(len(frame) == 2 for frame in linked)
    assert all(b.box[0] < 240 for frame in linked for b in frame.values())  # the static false box: no one's
    (ignored,) = linker.ignored.values()
    assert (ignored.first, ignored.last) == (0, 29)


def test_schedule_links_the_frames_of_finished_chunks_again_on_resume():
    boxes = {f: [(*walking(f, 10, 20), 0.9), (*walking(f, 160, 150, -1.0), 0.85)] for f in range(40)}
    whole = LinkSchedule(BoxLinker(ListDetector(boxes), "bytetrack", [1, 2]), Frames())
    expected = [whole.for_chunk(Chunk(i, 10 * i, 10 * i + 10)).boxes for i in range(4)]
    resumed = LinkSchedule(BoxLinker(ListDetector(boxes), "bytetrack", [1, 2]), Frames())
    again = resumed.for_chunk(Chunk(3, 30, 40)).boxes
    assert {f: {a: b.track_id for a, b in v.items()} for f, v in again.items()} == {
        f: {a: b.track_id for a, b in v.items()} for f, v in expected[3].items()
    }
