"""``review``, ``swap``, ``correct`` and ``undo`` run as a user runs them, on runs of the weight-free
contrast backend (a generated clip, and the real two-mice clip where it is present)."""

import json
import re
import shutil

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.run_lock import RunLock
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder
from tests.real_data import REAL_360P

CONTRAST = ["--backend", "contrast", "--quiet"]


def write_prompts(path, rows):
    path.write_text("frame,y,x,animal,positive\n" + "".join(f"{f},{y},{x},{a},{int(p)}\n" for f, y, x, a, p in rows))
    return path


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A finished contrast run of a generated clip (written as PNG frames), and the clip."""
    folder = tmp_path_factory.mktemp("review")
    clip = crossing_ellipses(num_frames=60, height=72, width=96)
    frames = write_frame_folder(clip, folder / "frames")
    prompts = write_prompts(folder / "clicks.csv", clip.center_prompts(0))
    out = folder / "run"
    assert main(["track", str(frames), "--prompts", str(prompts), "--out", str(out), "--chunk-size", "20",
                 *CONTRAST]) == 0
    return out, clip


@pytest.fixture
def run(tracked, tmp_path):
    """A copy of the finished run, to correct."""
    out = tmp_path / "run"
    shutil.copytree(tracked[0], out)
    return out


def read_bytes(out):
    return (out / "labels.tif").read_bytes(), (out / "tracks.csv").read_bytes()


def test_review_prints_the_episodes_and_writes_review_csv(run, capsys):
    assert main(["review", str(run)]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = (run / "review.csv").read_text().splitlines()
    assert rows[0] == "rank,start,stop,animals,reason,score" and len(rows) > 1  # they touch mid-clip
    assert printed[0].split() == ["rank", "start", "stop", "animals", "reason", "score"]
    rank, start, stop, animals, reason, score = rows[1].split(",")
    assert printed[1].split() == [rank, start, stop, *animals.split(), reason, f"{float(score):.2f}"]
    assert printed[-1].startswith(f"{len(rows) - 1} episodes. Wrote")


def test_swap_then_undo_from_the_command_line(run, capsys):
    before, old = read_bytes(run), tifffile.imread(run / "labels.tif")
    assert main(["swap", str(run), "1", "2", "--from", "30", "--to", "39"]) == 0
    new = tifffile.imread(run / "labels.tif")
    swapped = old[30:40].copy()
    swapped[old[30:40] == 1], swapped[old[30:40] == 2] = 2, 1
    assert np.array_equal(new[30:40], swapped)
    assert np.array_equal(new[:30], old[:30]) and np.array_equal(new[40:], old[40:])
    assert json.loads((run / "corrections.jsonl").read_text())["kind"] == "swap"
    assert json.loads((run / "run.json").read_text())["corrected"] is True
    assert main(["undo", str(run)]) == 0
    assert read_bytes(run) == before
    assert "0 correction(s) left" in capsys.readouterr().out


def test_correct_from_the_command_line_rebuilds_the_runs_own_backend(run, tracked, capsys):
    clip = tracked[1]
    before, old = read_bytes(run), tifffile.imread(run / "labels.tif")
    y, x = clip.centers[45, 0]
    fix = write_prompts(run.parent / "fix.csv", [(45, round(y), round(x), 1, True)])  # where animal 1 is
    assert main(["correct", str(run), "--prompts", str(fix), "--quiet"]) == 0
    entry = json.loads((run / "corrections.jsonl").read_text())
    assert entry["kind"] == "retrack" and entry["frame"] == 45 and entry["animals"] == [1]
    assert entry["rejoined"] and 10 <= entry["frames_retracked"] < 15  # the last 15 frames, at most
    new = tifffile.imread(run / "labels.tif")
    assert np.array_equal(new[:45], old[:45]) and np.array_equal(new[entry["stop"]:], old[entry["stop"]:])
    assert f"({entry['frames_retracked']} frames" in capsys.readouterr().out
    assert main(["undo", str(run)]) == 0
    assert read_bytes(run) == before


def test_correct_to_end(run, tracked):
    y, x = tracked[1].centers[45, 1]
    fix = write_prompts(run.parent / "fix.csv", [(45, round(y), round(x), 2, True)])
    assert main(["correct", str(run), "--prompts", str(fix), "--quiet", "--to-end"]) == 0
    entry = json.loads((run / "corrections.jsonl").read_text())
    assert entry["frames_retracked"] == 15 and entry["stop"] == 60 and not entry["rejoined"]


def test_correct_from_a_painted_mask_takes_every_animal_from_it(run, tracked, capsys):
    """Paint frame 30 with the two animals' labels exchanged (as if the run had swapped them there): the
    re-track follows the painted identities to the end, and undo takes it back."""
    before, old = read_bytes(run), tifffile.imread(run / "labels.tif")
    painted = np.where(old[30] == 1, 2, np.where(old[30] == 2, 1, 0)).astype(old.dtype)
    tifffile.imwrite(run.parent / "frame30.tif", painted)
    assert main(["correct", str(run), "--mask", str(run.parent / "frame30.tif"), "--frame", "30", "--to-end",
                 "--quiet"]) == 0
    entry = json.loads((run / "corrections.jsonl").read_text())
    assert entry["kind"] == "retrack" and entry["painted"] and entry["frame"] == 30 and entry["animals"] == [1, 2]
    new = tifffile.imread(run / "labels.tif")
    assert np.array_equal(new[:30], old[:30]) and np.array_equal(new[30], painted)
    for frame in range(31, 60):
        for animal in (1, 2):
            ours, theirs = new[frame] == animal, old[frame] == 3 - animal
            assert np.logical_and(ours, theirs).sum() / np.logical_or(ours, theirs).sum() > 0.8, frame
    assert "Re-tracked frames 30 to 59" in capsys.readouterr().out
    assert main(["undo", str(run)]) == 0
    assert read_bytes(run) == before


def test_a_painted_mask_that_does_not_fit_the_run_exits_2_and_changes_nothing(run, capsys):
    before = read_bytes(run)
    small = run.parent / "small.tif"
    tifffile.imwrite(small, np.zeros((10, 10), np.uint8))
    odd = run.parent / "odd.tif"
    tifffile.imwrite(odd, np.full((72, 96), 7, np.uint8))
    colour = run.parent / "colour.png"
    from PIL import Image

    Image.fromarray(np.zeros((72, 96, 3), np.uint8)).save(colour)
    for args, message in [
        (["--mask", str(small), "--frame", "30"], "is 10x10 pixels; the run's frames are 72x96"),
        (["--mask", str(odd), "--frame", "30"], "holds label(s) 7, which are no animal of this run"),
        (["--mask", str(odd), "--frame", "60"], "the run has frames 0 to 59"),
        (["--mask", str(small)], "needs its frame (--frame F"),
        (["--mask", str(colour), "--frame", "30"], "a label image has one whole number per pixel"),
        (["--mask", str(run.parent / "none.tif"), "--frame", "30"], "does not exist"),
    ]:
        assert main(["correct", str(run), *args, "--quiet"]) == 2, args
        assert message in capsys.readouterr().err, args
    assert read_bytes(run) == before and not (run / "corrections.jsonl").exists()


def test_mistakes_exit_2_with_a_message_and_change_nothing(run, tracked, capsys):
    before = read_bytes(run)
    y, x = tracked[1].centers[45, 0]
    cases = [
        (["correct", str(run), "--prompts", str(write_prompts(run.parent / "a.csv", [(45, 10, 200, 1, True)]))],
         "outside the image"),
        (["correct", str(run), "--prompts", str(write_prompts(run.parent / "b.csv", [(60, y, x, 1, True)]))],
         "past the end"),
        (["correct", str(run), "--prompts", str(write_prompts(run.parent / "c.csv", [(45, y, x, 7, True)]))],
         r"animal\(s\) 7 are not in this run"),
        (["correct", str(run), "--prompts", str(run.parent / "c.csv"), "--rejoin-frames", "0"], "--rejoin-frames"),
        (["correct", str(run), "--prompts", str(write_prompts(run.parent / "d.csv", [(45, 2, 2, 1, True)]))],
         "No animal stands out from the floor"),
        (["swap", str(run), "1", "5", "--from", "3"], r"animal\(s\) 5 are not in this run"),
        (["undo", str(run)], "no correction to undo"),
        (["review", str(run.parent / "nothing")], "holds no run"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        error = capsys.readouterr().err
        assert error.startswith("error: ") and re.search(message, error), (args, error)
    with RunLock(run):
        assert main(["swap", str(run), "1", "2", "--from", "3"]) == 2
        assert "in use by another run" in capsys.readouterr().err
    assert read_bytes(run) == before


def test_an_unfinished_run_is_refused(tmp_path, tracked, capsys):
    out = tmp_path / "run"
    shutil.copytree(tracked[0], out)
    metadata = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps(dict(metadata, status="stopped")))
    assert main(["swap", str(out), "1", "2", "--from", "3"]) == 2
    assert "is not finished" in capsys.readouterr().err


# -- the real clip -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    if not REAL_360P.exists():
        pytest.skip(f"{REAL_360P} is absent")
    folder = tmp_path_factory.mktemp("real")
    prompts = write_prompts(folder / "clicks.csv", [(0, 60, 185, 1, True), (0, 250, 275, 2, True)])
    out = folder / "run"
    assert main(["track", str(REAL_360P), "--prompts", str(prompts), "--out", str(out), *CONTRAST]) == 0
    return out


def test_real_clip_swap_from_600_exchanges_those_labels_and_rows_and_undo_restores_the_bytes(real_run):
    before, old = read_bytes(real_run), tifffile.imread(real_run / "labels.tif")
    old_rows = (real_run / "tracks.csv").read_text().splitlines()
    assert main(["swap", str(real_run), "1", "2", "--from", "600"]) == 0
    new = tifffile.imread(real_run / "labels.tif")
    expected = old[600:].copy()
    expected[old[600:] == 1], expected[old[600:] == 2] = 2, 1
    assert np.array_equal(new[:600], old[:600]) and np.array_equal(new[600:], expected)
    rows = (real_run / "tracks.csv").read_text().splitlines()
    assert rows[: 1 + 2 * 600] == old_rows[: 1 + 2 * 600]
    for t in (600, 900, 1197):  # animal 1's row is animal 2's old row but for the animal and the jump flag
        for mine, theirs in ((1 + 2 * t, 2 + 2 * t), (2 + 2 * t, 1 + 2 * t)):
            assert rows[mine].split(",")[2:11] == old_rows[theirs].split(",")[2:11]
    assert main(["undo", str(real_run)]) == 0
    assert read_bytes(real_run) == before


def test_real_clip_a_click_where_animal_1_already_is_at_900_rejoins_soon(real_run):
    old = tifffile.imread(real_run / "labels.tif")
    ys, xs = np.nonzero(old[900] == 1)
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    fix = write_prompts(real_run.parent / "fix.csv", [(900, ys[i], xs[i], 1, True)])
    assert main(["correct", str(real_run), "--prompts", str(fix), "--quiet"]) == 0
    entry = json.loads((real_run / "corrections.jsonl").read_text().splitlines()[-1])
    assert entry["rejoined"] and 10 <= entry["frames_retracked"] < 298
    new = tifffile.imread(real_run / "labels.tif")
    assert np.array_equal(new[:900], old[:900]) and np.array_equal(new[entry["stop"]:], old[entry["stop"]:])
    assert main(["undo", str(real_run)]) == 0


def test_overwrite_clears_the_review_and_the_correction_history(run, tracked, tmp_path):
    assert main(["review", str(run)]) == 0
    assert main(["swap", str(run), "1", "2", "--from", "30"]) == 0
    assert (run / "corrections.jsonl").exists() and (run / "corrections").is_dir()
    frames = tracked[0].parent / "frames"
    prompts = write_prompts(tmp_path / "clicks.csv", tracked[1].center_prompts(0))
    assert main(["track", str(frames), "--prompts", str(prompts), "--out", str(run), "--chunk-size", "20",
                 "--overwrite", *CONTRAST]) == 0
    assert not {"review.csv", "corrections.jsonl", "corrections"} & {p.name for p in run.iterdir()}
    assert "corrected" not in json.loads((run / "run.json").read_text())


def test_a_moved_video_is_given_with_video_and_another_one_is_refused(run, tracked, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(tracked[0].parent / "frames", moved)
    metadata = json.loads((run / "run.json").read_text())
    metadata["video"]["path"] = str(tmp_path / "gone")
    (run / "run.json").write_text(json.dumps(metadata))
    y, x = tracked[1].centers[45, 0]
    fix = write_prompts(tmp_path / "fix.csv", [(45, round(y), round(x), 1, True)])
    assert main(["correct", str(run), "--prompts", str(fix), "--quiet"]) == 2
    assert "is no longer there; give it with --video" in capsys.readouterr().err
    other = write_frame_folder(crossing_ellipses(num_frames=50, height=72, width=96), tmp_path / "other")
    assert main(["correct", str(run), "--prompts", str(fix), "--quiet", "--video", str(other)]) == 2
    assert "is not the video the run" in capsys.readouterr().err
    assert main(["correct", str(run), "--prompts", str(fix), "--quiet", "--video", str(moved)]) == 0


def test_review_into_a_pipe_closed_early_ends_quietly(run):
    """``sam2-longvideo review RUN | head``: the reader stops; no BrokenPipe traceback, exit code 0."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "import sys; from napari_sam2_longvideo.cli import main; sys.exit(main())",
               "review", str(run), "--all"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `head` does once it has its lines: every write after this fails
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_review_lists_close_identity_assignments_from_the_store(run, capsys):
    """A detector-prompted run keeps its assignments in the store; `review` lists the close ones."""
    from napari_sam2_longvideo.io.store import LabelStore

    store = LabelStore.open(run)
    store.save_assignments(1, [{"frame": 20, "animal": 1, "cost": 0.5, "margin": 0.1},
                               {"frame": 20, "animal": 2, "cost": 0.6, "margin": 0.1}])
    store.save_assignments(2, [{"frame": 40, "animal": 1, "cost": 0.1, "margin": 1.5}])
    assert main(["review", str(run), "--all"]) == 0
    rows = (run / "review.csv").read_text().splitlines()
    assert [r.split(",")[1:5] for r in rows if "close_assignment" in r] == [["20", "20", "1 2", "close_assignment"]]
    assert "close_assignment" in capsys.readouterr().out
    assert main(["review", str(run), "--close-margin", "0.05"]) == 0
    assert "close_assignment" not in (run / "review.csv").read_text()
