"""The label store: labels.zarr beside the record of finished chunks; resuming, extending, exports."""

import csv
import json
import subprocess
import sys
import textwrap

import dask.array
import numpy as np
import pytest
import tifffile
import zarr

from napari_sam2_longvideo.core.chunks import Chunk, chunk_plan
from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io import export
from napari_sam2_longvideo.io.export import write_labels_tiff, write_tracks_csv
from napari_sam2_longvideo.io.store import LabelStore, block_length


def chunk_data(chunk, shape=(6, 8)):
    labels = np.zeros((len(chunk),) + shape, np.uint8)
    for i, t in enumerate(range(chunk.start, chunk.stop)):
        labels[i, t % shape[0], :] = 1 + t % 2
    records = np.zeros(len(chunk), TRACK_DTYPE)
    records["frame"] = np.arange(chunk.start, chunk.stop)
    records["animal"] = 1
    records["centroid_y"] = np.nan
    return labels, records


def write_all(store):
    for chunk in store.chunks:
        store.write_chunk(chunk, *chunk_data(chunk))


def block_files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in (folder / "labels.zarr" / "c").rglob("*") if p.is_file()}


@pytest.fixture
def store(tmp_path):
    return LabelStore.create(tmp_path / "run", (10, 6, 8), np.uint8, chunk_plan(10, 4))


def test_blocks_are_the_largest_divisor_of_the_chunk_size_up_to_16_frames():
    assert [block_length(n) for n in (100, 200, 4, 16, 48, 97, 1)] == [10, 10, 4, 16, 16, 1, 1]


def test_finished_chunks_survive_reopening_and_other_readers_open_the_array_as_it_is(store, tmp_path):
    store.write_chunk(store.chunks[0], *chunk_data(store.chunks[0]))
    reopened = LabelStore.open(tmp_path / "run")
    assert reopened.done_chunks == [0] and reopened.frames_done == 4 and not reopened.complete
    np.testing.assert_array_equal(reopened[0:4], chunk_data(store.chunks[0])[0])
    assert not reopened[7].any()  # never written: Zarr's fill value, background
    assert reopened.shape == (10, 6, 8) and reopened.ndim == 3 and reopened.dtype == np.uint8
    assert reopened.block_length == 4
    # no reader of ours needed
    plain = zarr.open_array(tmp_path / "run" / "labels.zarr", mode="r")
    np.testing.assert_array_equal(plain[:], np.asarray(reopened))
    lazy = dask.array.from_zarr(str(tmp_path / "run" / "labels.zarr"))
    assert lazy.chunks[0] == (4, 4, 2)
    np.testing.assert_array_equal(lazy.compute(), np.asarray(reopened))


def test_a_chunk_written_but_not_recorded_is_not_taken_as_done(store, tmp_path):
    """A stop after a chunk's frames are in the array, before the index lists it: the chunk is redone."""
    labels, records = chunk_data(store.chunks[1])
    with store.chunk_writer(store.chunks[1]) as writer:
        for frame in labels:
            writer.add(frame)
    reopened = LabelStore.open(tmp_path / "run")
    assert reopened.done_chunks == []
    reopened.write_chunk(reopened.chunks[1], labels, records)
    assert LabelStore.open(tmp_path / "run").done_chunks == [1]


def test_a_crash_while_writing_a_chunk_leaves_every_listed_chunk_whole(store, tmp_path):
    """The process dies in the middle of chunk 1; no block of finished chunk 0 was touched."""
    store.write_chunk(store.chunks[0], *chunk_data(store.chunks[0]))
    before = block_files(tmp_path / "run")
    crash = textwrap.dedent(f"""
        import os, numpy as np
        from napari_sam2_longvideo.io.store import LabelStore
        store = LabelStore.open({str(tmp_path / "run")!r})
        writer = store.chunk_writer(store.chunks[1])
        for t in range(4):
            writer.add(np.full((6, 8), 9, np.uint8))
        writer._writes[0].result()  # its block is in the array
        os._exit(1)  # no clean-up, no finish
    """)
    assert subprocess.run([sys.executable, "-c", crash]).returncode == 1
    after = block_files(tmp_path / "run")
    assert {name: after[name] for name in before} == before and len(after) == len(before) + 1
    reopened = LabelStore.open(tmp_path / "run")
    assert reopened.done_chunks == [0]
    np.testing.assert_array_equal(reopened[0:4], chunk_data(store.chunks[0])[0])


def test_indexing_follows_numpy_and_python_sequences(store):
    write_all(store)
    full = np.concatenate([chunk_data(c)[0] for c in store.chunks])
    assert store.complete
    np.testing.assert_array_equal(np.asarray(store), full)
    for key in [3, -1, -10, slice(2, 9, 3), (5, 1), (slice(None), 2, slice(1, 4)), slice(8, 20)]:
        np.testing.assert_array_equal(store[key], full[key])
    for past in (10, -11, (10, 1)):
        with pytest.raises(IndexError, match="outside 0..9"):
            store[past]
    frames = list(store)
    assert len(frames) == 10 and all((a == b).all() for a, b in zip(frames, full))
    np.testing.assert_array_equal(store.records()["frame"], np.arange(10))


def test_labels_tif_is_a_compressed_imagej_time_series_equal_to_the_store(store, tmp_path):
    write_all(store)
    path = write_labels_tiff(store, tmp_path / "labels.tif")
    np.testing.assert_array_equal(tifffile.imread(path), np.asarray(store))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 1 and tif.series[0].axes == "TYX" and tif.series[0].shape == (10, 6, 8)
        assert tif.is_imagej and tif.imagej_metadata["frames"] == 10 and not tif.is_bigtiff
        assert all(page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE for page in tif.pages)

    tracks = write_tracks_csv(store.records(), tmp_path / "tracks.csv")
    with open(tracks) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["frame"] for r in rows] == [str(t) for t in range(10)]
    assert rows[0]["centroid_y"] == "" and rows[0]["lost"] == "0"
    columns = list(rows[0])
    assert columns[columns.index("jumped") + 1] == "time_s" and {r["time_s"] for r in rows} == {""}  # no frame rate given

    timed = write_tracks_csv(store.records(), tmp_path / "timed.csv", np.arange(10) / 30)
    with open(timed) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["time_s"] for r in rows][:3] == ["0.000000", "0.033333", "0.066667"]
    with open(tracks) as handle:
        untimed = [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(handle)]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in rows] == untimed  # only the times differ


def test_labels_tif_above_the_classic_tiff_limit_is_an_ome_bigtiff_time_series(store, tmp_path, monkeypatch):
    write_all(store)
    monkeypatch.setattr(export, "BIGTIFF_ABOVE_BYTES", 100)  # 480 bytes of labels count as big here
    path = write_labels_tiff(store, tmp_path / "labels.tif")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and tif.is_ome and tif.series[0].axes == "TYX"
        np.testing.assert_array_equal(tif.asarray(), np.asarray(store))


def test_sixteen_bit_labels_round_trip_through_the_store_and_the_tiff(tmp_path):
    store = LabelStore.create(tmp_path / "run", (3, 5, 7), np.uint16, chunk_plan(3, 2))
    full = np.zeros((3, 5, 7), np.uint16)
    full[1, 2, 3], full[2, 4, 6] = 300, 65535
    for chunk in store.chunks:
        store.write_chunk(chunk, full[chunk.start : chunk.stop], np.zeros(0, TRACK_DTYPE))
    reopened = LabelStore.open(tmp_path / "run")
    np.testing.assert_array_equal(reopened[:], full)
    written = tifffile.imread(write_labels_tiff(reopened, tmp_path / "labels.tif"))
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, full)


@pytest.mark.parametrize("old_file", ["store.json", "chunk_00000.npz"])
def test_a_run_folder_of_the_npz_store_is_refused_with_what_to_do(tmp_path, old_file):
    (tmp_path / "old" / "store").mkdir(parents=True)
    (tmp_path / "old" / "store" / old_file).write_bytes(b"{}")
    with pytest.raises(UserInputError, match=r"old.* earlier version.*--overwrite"):
        LabelStore.open(tmp_path / "old")


def test_a_store_of_another_format_number_is_refused(store, tmp_path):
    index = tmp_path / "run" / "store" / "index.json"
    index.write_text(json.dumps(dict(json.loads(index.read_text()), format=99)))
    with pytest.raises(UserInputError, match=r"format 99.*--overwrite"):
        LabelStore.open(tmp_path / "run")


def test_a_chunk_written_frame_by_frame_is_marked_finished_only_by_finish(tmp_path):
    """More frames than a block, so several blocks are written in turn, the last one short."""
    store = LabelStore.create(tmp_path / "run", (40, 6, 8), np.uint8, chunk_plan(40, 37))
    chunk = store.chunks[0]
    labels, records = chunk_data(chunk)
    with store.chunk_writer(chunk) as writer:
        for frame in labels:
            writer.add(frame)
        assert not store.is_done(0) and not (tmp_path / "run" / "store" / "records_00000.npy").exists()
        writer.finish(records)
    assert LabelStore.open(tmp_path / "run").done_chunks == [0]
    np.testing.assert_array_equal(store[0:37], labels)
    assert store.chunk_records(0).tobytes() == records.tobytes()


def test_a_chunk_left_unfinished_or_short_of_frames_or_over_is_not_saved(store, tmp_path):
    labels, records = chunk_data(store.chunks[0])
    with store.chunk_writer(store.chunks[0]) as writer:  # a run stopped halfway through the chunk
        for frame in labels[:2]:
            writer.add(frame)
    with pytest.raises(ValueError, match="chunk 0 has 4 frames, 3 were added"):
        with store.chunk_writer(store.chunks[0]) as writer:
            for frame in labels[:3]:
                writer.add(frame)
            writer.finish(records)
    with pytest.raises(ValueError, match="chunk 0 has 4 frames; one more"):
        with store.chunk_writer(store.chunks[0]) as writer:
            for frame in [*labels, labels[0]]:
                writer.add(frame)
    with pytest.raises(ValueError, match=r"shape \(6, 9\)"), store.chunk_writer(store.chunks[0]) as writer:
        writer.add(np.zeros((6, 9), np.uint8))
    assert LabelStore.open(tmp_path / "run").done_chunks == []
    assert not list((tmp_path / "run" / "store").glob("records_*"))


def test_extending_keeps_the_finished_chunks_and_goes_on_from_the_last_finished_frame(store, tmp_path):
    write_all(store)  # chunks 0-4, 4-8, 8-10: the last one short
    kept = np.asarray(store)
    store.extend(20)
    expected = [(0, 4), (4, 8), (8, 10), (10, 12), (12, 16), (16, 20)]
    assert [(c.start, c.stop) for c in store.chunks] == expected and store.done_chunks == [0, 1, 2]
    reopened = LabelStore.open(tmp_path / "run")
    assert reopened.shape == (20, 6, 8) and [(c.start, c.stop) for c in reopened.chunks] == expected
    np.testing.assert_array_equal(reopened[:10], kept)
    assert not reopened[10:].any() and reopened.frames_done == 10
    # chunk 10-12 shares its block (8-12) with finished chunk 8-10, which must stay as it was
    new = Chunk(3, 10, 12)
    reopened.write_chunk(new, np.full((2, 6, 8), 7, np.uint8), chunk_data(new)[1])
    np.testing.assert_array_equal(reopened[:10], kept)
    assert (reopened[10:12] == 7).all() and reopened.done_chunks == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="holds 12 tracked frames, more than 11"):
        reopened.extend(11)


def test_extending_a_stopped_run_plans_the_rest_as_a_run_of_that_length_would(store, tmp_path):
    store.write_chunk(store.chunks[0], *chunk_data(store.chunks[0]))
    store.extend(18)
    assert store.chunks == chunk_plan(18, 4) and store.done_chunks == [0]
    store.extend(18)  # the same length again changes nothing
    assert LabelStore.open(tmp_path / "run").chunks == chunk_plan(18, 4)


def test_concurrent_atomic_writes_of_one_file_each_leave_it_whole(tmp_path):
    """Two processes replacing one file at once (the chunks of --parallel-chunks saving the contrast
    backend's hand-over): each writes its own temporary file, so neither rename fails."""
    import subprocess
    import sys

    target = tmp_path / "shared.bin"
    script = (
        "import sys; from pathlib import Path; from napari_sam2_longvideo.io.files import write_atomically\n"
        "for i in range(300):\n"
        "    write_atomically(Path(sys.argv[1]), lambda h: h.write(sys.argv[2].encode() * 1000))\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(target), letter]) for letter in "ab"]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert target.read_bytes() in (b"a" * 1000, b"b" * 1000)
    assert not list(tmp_path.glob("*.partial"))
