"""Reading a detections CSV: every mistake names the file and the line."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2_longvideo.engine.detection.box_file import BoxFileDetector
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.detections import read_detections_csv

HEADER = "frame,x0,y0,x1,y1,confidence,class_id,class_name\n"


def write(tmp_path, text):
    path = tmp_path / "boxes.csv"
    path.write_text(text)
    return path


def test_boxes_are_read_and_served_by_frame_in_file_order(tmp_path):
    path = write(tmp_path, HEADER + "3,1,2,11,12,0.9,0,mouse\n1,5,5,9,9,0.4,1,cage\n3,20,20,30,30,0.7,0,\n")
    table = read_detections_csv(path)
    assert table.class_names == {0: "mouse", 1: "cage"}
    detector = BoxFileDetector(table)
    found = detector.detect(None, frame=3)
    np.testing.assert_array_equal(found.boxes, [[1, 2, 11, 12], [20, 20, 30, 30]])
    np.testing.assert_array_equal(found.class_ids, [0, 0])
    assert len(detector.detect(None, frame=2)) == 0
    assert len(BoxFileDetector(table, confidence=0.5).detect(None, frame=1)) == 0
    assert len(BoxFileDetector(table, classes=[1]).detect(None, frame=3)) == 0


def test_class_name_is_optional(tmp_path):
    table = read_detections_csv(write(tmp_path, "frame,x0,y0,x1,y1,confidence,class_id\n0,1,1,5,5,1,2\n"))
    assert table.class_names == {} and table.class_ids.tolist() == [2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frame,x0,y0,x1,y1,confidence\n", "lacks the column(s) class_id"),
        (HEADER + "0,1,1,5,5,0.9,0,mouse\n0,a,1,5,5,0.9,0,mouse\n", "line 3"),
        (HEADER + "0,5,1,5,5,0.9,0,mouse\n", "line 2: box x0=5"),
        (HEADER + "0,1,1,5,5,1.5,0,mouse\n", "confidence 1.5"),
        (HEADER + "-1,1,1,5,5,0.5,0,mouse\n", "start at 0"),
        (HEADER + "0,1,1,5,5,0.5,0,mouse\n1,1,1,5,5,0.5,0,rat\n", "class_id 0 is named 'rat' here"),
    ],
)
def test_mistakes_name_the_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserInputError, match=str(path)) as error:
        read_detections_csv(path)
    assert message in str(error.value)


def test_boxes_are_checked_against_the_video(tmp_path):
    table = read_detections_csv(write(tmp_path, HEADER + "0,1,1,5,5,0.9,0,m\n12,1,1,5,5,0.9,0,m\n"))
    with pytest.raises(UserInputError, match="box 2 \\(frame 12\\): frame 12 is past the end of clip.mp4"):
        table.check_video(10, 50, 50, "clip.mp4")
    outside = read_detections_csv(write(tmp_path, HEADER + "0,60,1,70,5,0.9,0,m\n"))
    with pytest.raises(UserInputError, match="outside the image"):
        outside.check_video(10, 50, 50, "clip.mp4")
    empty = read_detections_csv(write(tmp_path, HEADER))
    with pytest.raises(UserInputError, match="holds no boxes: the detector found nothing"):
        empty.check_video(10, 50, 50, "clip.mp4")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UserInputError, match="Cannot read detections file .*nope.csv"):
        read_detections_csv(tmp_path / "nope.csv")
