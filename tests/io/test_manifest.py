"""Reading a batch's manifest and writing its ``batch.csv``."""

import pytest

from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.manifest import RESULT_COLUMNS, read_manifest, read_results, write_results


def test_paths_are_relative_to_the_manifest_and_cells_take_their_settings_types(tmp_path):
    manifest = tmp_path / "lab" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "video,prompts,name,chunk-size,threshold,train_detector,detector_classes\n"
        "day1.mp4,clicks/day1.csv,,50,30.5,yes,0 2\n"
        "\n"
        "/data/day2.mp4,,mouse-day2,,,,\n"
    )
    first, second = read_manifest(manifest)
    assert first.video == str(tmp_path / "lab" / "day1.mp4") and first.name == "day1"
    assert first.prompts == str(tmp_path / "lab" / "clicks" / "day1.csv") and first.line == 2
    assert first.settings == {"chunk_size": 50, "threshold": 30.5, "train_detector": True, "detector_classes": [0, 2]}
    assert second.video == "/data/day2.mp4" and second.prompts is None and second.name == "mouse-day2"
    assert second.settings == {} and second.line == 4


@pytest.mark.parametrize("text, message", [
    ("video\nday1.mp4\n", "lacks the column(s) prompts"),
    ("video,prompts\n", "names no video"),
    ("video,prompts\n,a.csv\n", "line 2: the video cell is empty"),
    ("video,prompts,speed\na.mp4,a.csv,3\n", "has the column 'speed'"),
    ("video,prompts,chunk_size\na.mp4,a.csv,ten\n", "line 2, column chunk_size: 'ten' is not a value of chunk_size"),
    ("video,prompts,train_detector\na.mp4,a.csv,maybe\n", "'maybe' is not a value of train_detector"),
    ("video,prompts,name\na.mp4,a.csv,../elsewhere\n", "line 2: the name '../elsewhere' is not a folder name"),
])
def test_a_manifest_mistake_is_named(tmp_path, text, message):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(text)
    with pytest.raises(UserInputError, match="Manifest|manifest") as raised:
        read_manifest(manifest)
    assert message in str(raised.value) and str(manifest) in str(raised.value)


def test_a_missing_manifest_or_an_empty_folder_says_what_to_give(tmp_path):
    with pytest.raises(UserInputError, match="Cannot read the manifest"):
        read_manifest(tmp_path / "nothing.csv")
    with pytest.raises(UserInputError, match="holds no video"):
        read_manifest(tmp_path)


def test_a_folder_takes_its_videos_with_the_prompts_beside_them(tmp_path):
    for name in ("b.mp4", "a.tif", "b.csv", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "frames").mkdir()
    rows = read_manifest(tmp_path)
    assert [(r.name, r.prompts) for r in rows] == [("a", None), ("b", str(tmp_path / "b.csv"))]


def test_results_are_written_whole_and_read_back_by_name(tmp_path):
    path = tmp_path / "batch.csv"
    write_results(path, [{"name": "a", "video": "a.mp4", "status": "finished", "frames": 10, "seconds": 1.5,
                          "lost": 0, "merged": 2, "jumped": 0, "error": None, "worker": "tcp://x"}])
    assert path.read_text().splitlines() == [",".join(RESULT_COLUMNS), "a,a.mp4,finished,10,1.5,0,2,0,"]
    assert not list(tmp_path.glob("batch.csv*.partial"))
    assert read_results(path)["a"]["seconds"] == "1.5"
    assert read_results(tmp_path / "none.csv") == {}


def test_file_settings_are_relative_to_the_manifest_and_a_folder_takes_name_boxes_csv(tmp_path):
    manifest = tmp_path / "lab" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("video,prompts,detections,link,animals\nday1.mp4,,boxes/day1.csv,bytetrack,2\n")
    (row,) = read_manifest(manifest)
    assert row.prompts is None
    assert row.settings == {"detections": str(tmp_path / "lab" / "boxes" / "day1.csv"), "link": "bytetrack", "animals": 2}
    for name in ("a.mp4", "a.boxes.csv", "b.tif", "b.csv"):
        (tmp_path / name).write_bytes(b"")
    first, second = read_manifest(tmp_path)
    assert (first.name, first.prompts, first.settings) == ("a", None, {"detections": str(tmp_path / "a.boxes.csv")})
    assert (second.name, second.prompts, second.settings) == ("b", str(tmp_path / "b.csv"), {})
