"""Each export read back with the field's own reader: positions are tracks.csv's, lost frames missing."""

from __future__ import annotations

import json

import av
import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.exports import export_run, read_nwb_metadata, read_run
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

FPS = 25
LOST = (8, 13)  # animal 2 is lost on frames 8 to 12 in the truth-backend run


def write_clip_video(clip, path, fps=FPS):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = clip.frames.shape[2], clip.frames.shape[1], "yuv420p"
        for frame in clip.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def track(video, clip, out, backend=None):
    path = out.parent / f"{out.name}-clicks.csv"
    lines = ["frame,y,x,animal,positive"] + [",".join(str(int(v)) for v in row) for row in clip.center_prompts(0)]
    path.write_text("\n".join(lines) + "\n")
    settings = TrackSettings(backend="contrast", chunk_size=10)
    for _ in run_tracking(str(video), Prompts.from_csv(path), settings, out, backend=backend):
        pass
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A contrast run and a truth-backend run (animal 2 lost on `LOST`) of one generated 25 fps video."""
    folder = tmp_path_factory.mktemp("exports")
    clip = crossing_ellipses(num_frames=24, height=72, width=96)
    video = write_clip_video(clip, folder / "clip.mp4")
    contrast = track(video, clip, folder / "contrast")
    lossy = track(video, clip, folder / "lossy", TruthBackend(clip, lose={2: LOST}))
    return {"contrast": contrast, "lossy": lossy}


@pytest.fixture(scope="module")
def exported(runs):
    return {name: export_run(run, "all") for name, run in runs.items()}


def centroids(run, animal):
    """tracks.csv's (x, y) of ``animal``, frame by frame."""
    table = pd.read_csv(run / "tracks.csv")
    rows = table[table["animal"] == animal].sort_values("frame")
    return rows[["centroid_x", "centroid_y"]].to_numpy(), rows


def find(paths, suffix):
    (path,) = [p for p in paths if p.name.endswith(suffix)]
    return path


def test_tracks_csv_holds_the_videos_times(runs):
    table = pd.read_csv(runs["contrast"] / "tracks.csv")
    columns = list(table.columns)
    assert columns[columns.index("jumped") + 1] == "time_s"  # after the per-frame fields, before the linked runs' ones
    np.testing.assert_allclose(table["time_s"], table["frame"] / FPS, atol=1e-6)


def test_every_format_goes_to_run_exports_by_default(runs, exported):
    names = sorted(p.name for p in exported["contrast"])
    assert names == ["clip.analysis.h5", "clip.nwb", "clipDLC_sam2longvideo.csv", "clip_bboxes.nc",
                     "clip_coco.json", "clip_poses.nc"]
    assert all(p.parent == runs["contrast"] / "exports" for p in exported["contrast"])
    assert sorted(p.name for p in (runs["contrast"] / "exports").iterdir()) == names  # no scratch left


@pytest.mark.parametrize("kind", ["contrast", "lossy"])
def test_sleap_analysis_file_reads_in_movement_with_tracks_csv_positions(runs, exported, kind):
    from movement.io import load_dataset

    path = find(exported[kind], ".analysis.h5")
    ds = load_dataset(path, source_software="SLEAP", fps=FPS)
    assert ds.individuals.values.tolist() == ["animal1", "animal2"] and ds.keypoints.values.tolist() == ["centroid"]
    for animal in (1, 2):
        xy, rows = centroids(runs[kind], animal)
        got = ds.position.sel(individuals=f"animal{animal}", keypoints="centroid").values  # (time, space)
        np.testing.assert_allclose(got, xy, rtol=1e-6)  # movement reads float32
        np.testing.assert_allclose(ds.confidence.sel(individuals=f"animal{animal}").values[:, 0],
                                   np.where(rows["lost"], np.nan, rows["score"]), rtol=1e-6)
    with h5py.File(path) as handle:  # SLEAP's own layout
        assert handle["tracks"].shape == (2, 2, 1, 24) and handle["track_occupancy"].shape == (24, 2)
        assert handle["node_names"][:].tolist() == [b"centroid"]
        occupancy = handle["track_occupancy"][:, 1]
    if kind == "lossy":
        assert np.isnan(ds.position.sel(individuals="animal2").values[LOST[0] : LOST[1]]).all()
        assert occupancy[LOST[0] : LOST[1]].tolist() == [0] * 5 and occupancy[: LOST[0]].all()


@pytest.mark.parametrize("kind", ["contrast", "lossy"])
def test_dlc_csv_reads_in_movement_with_tracks_csv_positions_and_score_as_likelihood(runs, exported, kind):
    from movement.io import load_dataset

    path = find(exported[kind], ".csv")
    ds = load_dataset(path, source_software="DeepLabCut", fps=FPS)
    assert ds.individuals.values.tolist() == ["animal1", "animal2"]
    for animal in (1, 2):
        xy, rows = centroids(runs[kind], animal)
        np.testing.assert_allclose(ds.position.sel(individuals=f"animal{animal}").values[:, :, 0], xy, rtol=1e-6)
        likelihood = ds.confidence.sel(individuals=f"animal{animal}").values[:, 0]
        np.testing.assert_allclose(likelihood, np.where(rows["lost"], np.nan, rows["score"]), rtol=1e-6)
    header = path.read_text().splitlines()[:4]
    assert [line.split(",")[0] for line in header] == ["scorer", "individuals", "bodyparts", "coords"]
    if kind == "lossy":
        assert np.isnan(ds.position.sel(individuals="animal2").values[LOST[0] : LOST[1]]).all()


@pytest.mark.parametrize("kind", ["contrast", "lossy"])
def test_nwb_reads_in_pynwb_with_one_pose_estimation_per_animal(runs, exported, kind):
    import ndx_pose  # noqa: F401 - registers the extension's types for reading
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(find(exported[kind], ".nwb")), "r") as io:
        nwb = io.read()
        behavior = nwb.processing["behavior"]
        for animal in (1, 2):
            estimation = behavior[f"animal{animal}"]
            series = estimation.pose_estimation_series["centroid"]
            xy, rows = centroids(runs[kind], animal)
            np.testing.assert_array_equal(series.data[:], xy)
            np.testing.assert_array_equal(series.confidence[:], np.where(rows["lost"], np.nan, rows["score"]))
            assert series.rate == pytest.approx(FPS) and series.starting_time == 0 and series.unit == "pixels"
            video = estimation.source_video
            assert video.external_file[0].endswith("clip.mp4") and list(video.dimension[:]) == [96, 72]
            assert estimation.skeleton.nodes[:].tolist() == ["centroid"]
        if kind == "lossy":
            assert np.isnan(behavior["animal2"].pose_estimation_series["centroid"].data[LOST[0] : LOST[1]]).all()
    from movement.io import load_dataset  # movement reads it too, one animal (PoseEstimation) at a time

    ds = load_dataset(find(exported[kind], ".nwb"), source_software="NWB", pose_estimation_key="animal2")
    np.testing.assert_array_equal(ds.position.values[:, :, 0, 0], centroids(runs[kind], 2)[0])
    np.testing.assert_allclose(ds.time.values, np.arange(24) / FPS)


def test_nwb_takes_session_and_subject_from_the_metadata_yaml(runs, tmp_path):
    import ndx_pose  # noqa: F401
    from pynwb import NWBHDF5IO

    yaml_file = tmp_path / "meta.yaml"
    yaml_file.write_text(
        "session:\n  session_description: two mice, day 3\n  session_start_time: 2024-05-02T09:30:00+02:00\n"
        "  lab: Behaviour lab\n  experimenter: [Ada]\n"
        "subject:\n  subject_id: cage7\n  species: Mus musculus\n  description: two males, animal1 has a mark\n"
    )
    (path,) = export_run(runs["contrast"], ["nwb"], tmp_path / "out", nwb_metadata=read_nwb_metadata(yaml_file))
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_description == "two mice, day 3" and nwb.lab == "Behaviour lab"
        assert nwb.session_start_time.isoformat() == "2024-05-02T09:30:00+02:00"
        assert nwb.subject.subject_id == "cage7" and nwb.subject.species == "Mus musculus"
        assert nwb.experimenter == ("Ada",)


def test_nwb_metadata_with_an_unknown_field_is_refused_naming_it(tmp_path):
    yaml_file = tmp_path / "meta.yaml"
    yaml_file.write_text("subject:\n  name: Minnie\n")
    with pytest.raises(UserInputError, match="subject has fields NWB does not know: name"):
        read_nwb_metadata(yaml_file)


@pytest.mark.parametrize("kind", ["contrast", "lossy"])
def test_movement_netcdf_poses_and_bboxes_open_in_xarray(runs, exported, kind):
    poses = xr.open_dataset(find(exported[kind], "_poses.nc"))
    assert poses.attrs["ds_type"] == "poses" and poses.attrs["time_unit"] == "seconds"
    np.testing.assert_allclose(poses.time.values, np.arange(24) / FPS, atol=1e-6)
    assert poses.frame.values.tolist() == list(range(24))
    for animal in (1, 2):
        xy, _ = centroids(runs[kind], animal)
        np.testing.assert_array_equal(poses.position.sel(individuals=f"animal{animal}").values[:, :, 0], xy)
    bboxes = xr.open_dataset(find(exported[kind], "_bboxes.nc"))
    assert bboxes.attrs["ds_type"] == "bboxes" and set(bboxes.data_vars) >= {"position", "shape", "confidence"}
    labels = read_run(runs[kind]).labels()
    frame = 3
    ys, xs = np.nonzero(np.asarray(labels[frame]) == 1)
    centre = ((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2)
    np.testing.assert_allclose(bboxes.position.sel(individuals="animal1").values[frame], centre)
    np.testing.assert_allclose(bboxes.shape.sel(individuals="animal1").values[frame],
                               (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    if kind == "lossy":
        assert np.isnan(poses.position.sel(individuals="animal2").values[LOST[0] : LOST[1]]).all()
        assert np.isnan(bboxes.shape.sel(individuals="animal2").values[LOST[0] : LOST[1]]).all()
    poses.close()
    bboxes.close()


@pytest.mark.parametrize("kind", ["contrast", "lossy"])
def test_coco_masks_decode_to_the_runs_labels(runs, exported, kind):
    from pycocotools.coco import COCO

    path = find(exported[kind], "_coco.json")
    coco = COCO(str(path))
    labels = np.asarray(read_run(runs[kind]).labels()[:])
    assert len(coco.getImgIds()) == 24 and coco.loadCats(coco.getCatIds())[0]["name"] == "animal"
    for image_id in coco.getImgIds():
        frame = coco.imgs[image_id]["frame"]
        rebuilt = np.zeros_like(labels[frame])
        for annotation in coco.loadAnns(coco.getAnnIds(imgIds=image_id)):
            rebuilt[coco.annToMask(annotation).astype(bool)] = annotation["track_id"]
        np.testing.assert_array_equal(rebuilt, labels[frame])
    document = json.loads(path.read_text())
    assert document["images"][5]["time_s"] == pytest.approx(5 / FPS)
    if kind == "lossy":
        annotated = {a["image_id"] - 1 for a in document["annotations"] if a["track_id"] == 2}
        _, rows = centroids(runs[kind], 2)
        assert annotated == set(rows.loc[rows["lost"] == 0, "frame"]) and annotated.isdisjoint(range(*LOST))


def test_a_folder_that_is_not_a_finished_run_is_refused(runs, tmp_path):
    with pytest.raises(UserInputError, match="not a run folder"):
        export_run(tmp_path, "all")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    metadata = json.loads((runs["contrast"] / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps(dict(metadata, status="stopped", chunks_done=1)))
    with pytest.raises(UserInputError, match="not finished .*status 'stopped', 1 of 3 chunks"):
        export_run(unfinished, "all")
    with pytest.raises(UserInputError, match="Unknown export format excel"):
        export_run(runs["contrast"], ["excel"])

