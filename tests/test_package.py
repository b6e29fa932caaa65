"""The package as installed: its manifest, its import contract, its bundled sample."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """The import-linter contracts in pyproject.toml (layers, independent backends, no napari or Qt below
    the plugin), checked on the code as it is now."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_layout_has_its_rooms_and_no_module_is_over_400_lines():
    package = REPO / "src" / "napari_sam2_longvideo"
    for room in ("core", "io", "engine/backends/sam2", "engine/backends/contrast", "engine/detection"):
        assert (package / room / "__init__.py").exists(), room
    too_long = {str(f.relative_to(package)): n for f in package.rglob("*.py")
                if (n := len(f.read_text().splitlines())) > 400}
    assert not too_long, f"split these by job: {too_long}"


def test_manifest_is_valid_and_shipped_inside_the_package():
    from npe2 import PluginManifest

    shipped = resources.files("napari_sam2_longvideo") / "napari.yaml"
    assert shipped.read_text() == (REPO / "napari.yaml").read_text()
    manifest = PluginManifest.from_distribution("napari-sam2-longvideo")
    assert manifest.name == "napari-sam2-longvideo"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("npe2")), "validate", "napari-sam2-longvideo"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_bundled_sample_opens_with_its_prompts():
    from napari_sam2_longvideo.io.frames import open_frames
    from napari_sam2_longvideo.io.prompts import Prompts
    from napari_sam2_longvideo.sample import sample_paths

    video, prompts_path = sample_paths()
    with open_frames(video) as frames:
        prompts = Prompts.from_csv(prompts_path).validate(len(frames), frames.height, frames.width, video)
        assert (len(frames), frames.height, frames.width) == (60, 360, 640)
    assert prompts.animals == [1, 2]
    assert "SAM2-LongVideo" in (video.parent / "README.md").read_text()
