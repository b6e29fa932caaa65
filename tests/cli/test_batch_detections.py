"""``sam2-longvideo batch`` without clicks: each video prompted by its own boxes (a ``detections`` column,
or ``NAME.boxes.csv`` beside it in a folder), equal to its single ``track`` run."""

from pathlib import Path

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from tests.batch_setup import CONTRAST, assert_same_results, read_batch_csv, write_manifest
from tests.cli.test_linked_tracking import noisy_boxes


def write_clips_with_boxes(folder: Path, count: int) -> list[tuple[Path, Path]]:
    """``clipN.tif`` with truth-derived boxes ``clipN.boxes.csv`` (shuffled, some missed, some false)."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(count):
        clip = crossing_ellipses(num_frames=40, height=72, width=96, seed=index)
        video = folder / f"clip{index}.tif"
        tifffile.imwrite(video, clip.frames)
        pairs.append((video, write_detections_csv(folder / f"clip{index}.boxes.csv", noisy_boxes(clip.truth, index))))
    return pairs


def single_run(video, boxes, out, *options):
    assert main(["track", str(video), "--detections", str(boxes), "--animals", "2", "--out", str(out),
                 *CONTRAST, *options]) == 0
    return out


def test_a_manifest_of_videos_with_boxes_and_no_clicks_equals_their_single_runs(tmp_path):
    pairs = write_clips_with_boxes(tmp_path / "clips", 3)
    links = ["bytetrack", "", "botsort"]  # the second video: started and re-anchored by its boxes, not linked
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w") as handle:  # paths relative to the manifest, as a lab writes them
        handle.write("video,prompts,detections,link\n")
        handle.writelines(f"clips/{video.name},,clips/{boxes.name},{link}\n" for (video, boxes), link in zip(pairs, links))
    runs = tmp_path / "runs"
    assert main(["batch", str(manifest), "--out", str(runs), "--animals", "2", "--workers", "1", *CONTRAST]) == 0
    for (video, boxes), link in zip(pairs, links):
        reference = single_run(video, boxes, tmp_path / "single" / video.stem, *(["--link", link] if link else []))
        assert_same_results(runs / video.stem, reference)
    table = read_batch_csv(runs / "batch.csv")
    assert [row["status"] for row in table.values()] == ["finished"] * 3
    assert all(row["frames"] == "40" for row in table.values())

    written = {video.stem: (runs / video.stem / "labels.tif").stat().st_mtime_ns for video, _ in pairs}
    assert main(["batch", str(manifest), "--out", str(runs), "--animals", "2", "--workers", "1", *CONTRAST]) == 0
    assert {name: (runs / name / "labels.tif").stat().st_mtime_ns for name in written} == written  # skipped


def test_a_folder_takes_the_boxes_beside_each_video(tmp_path, capsys):
    pairs = write_clips_with_boxes(tmp_path / "clips", 2)
    pairs[1][1].unlink()  # clip1 has neither clicks nor boxes: it fails alone
    runs = tmp_path / "runs"
    code = main(["batch", str(tmp_path / "clips"), "--out", str(runs), "--animals", "2", "--workers", "1", *CONTRAST])
    assert code == 1
    assert "1 of 2 videos finished" in capsys.readouterr().out
    video, boxes = pairs[0]
    assert_same_results(runs / "clip0", single_run(video, boxes, tmp_path / "single"))
    table = read_batch_csv(runs / "batch.csv")
    assert table["clip1"]["status"] == "failed" and "NAME.boxes.csv" in table["clip1"]["error"]
    # --link needs boxes for every video: the batch is refused before any runs, naming the video
    code = main(["batch", str(tmp_path / "clips"), "--out", str(tmp_path / "linked"), "--animals", "2",
                 "--link", "bytetrack", *CONTRAST])
    assert code == 2 and "(clip1): --link bytetrack links a detector's boxes" in capsys.readouterr().err
    assert not (tmp_path / "linked").exists()


def test_without_clicks_or_boxes_a_row_says_what_prompts_it(tmp_path):
    from napari_sam2_longvideo.batch import NO_PROMPTS

    (video, boxes), = write_clips_with_boxes(tmp_path / "clips", 1)
    manifest = write_manifest(tmp_path / "m.csv", [(video, "")], {"detections": [str(boxes)]})
    runs = tmp_path / "runs"
    # boxes, but no --animals: nothing says how many animals to find
    assert main(["batch", str(manifest), "--out", str(runs), "--workers", "1", *CONTRAST]) == 1
    assert read_batch_csv(runs / "batch.csv")["clip0"]["error"] == NO_PROMPTS


def test_batch_parallel_chunks_give_each_video_its_track_parallel_chunks_result(tmp_path):
    """Each video's task hands its chunks to the same cluster (and waits without holding its worker's
    thread): the result is that of ``track --parallel-chunks``, whichever worker ran which chunk."""
    pairs = write_clips_with_boxes(tmp_path / "clips", 2)
    runs = tmp_path / "runs"
    assert main(["batch", str(tmp_path / "clips"), "--out", str(runs), "--animals", "2", "--parallel-chunks",
                 "--workers", "2", *CONTRAST]) == 0
    for video, boxes in pairs:
        reference = single_run(video, boxes, tmp_path / "single" / video.stem, "--parallel-chunks", "--workers", "1")
        assert_same_results(runs / video.stem, reference)
        assert (runs / video.stem / "run.json").read_text().count('"parallel_chunks": true') == 1
