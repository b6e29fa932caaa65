#!/usr/bin/env bash
# Set up everything this project needs on a fresh Debian machine with Python 3.11: the system libraries
# napari's Qt canvas needs under Xvfb, a virtual environment in .venv, PyTorch, SAM2 and this package.
# Safe to run again: it does nothing when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

system_packages=(xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3
  libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0)
missing=()
for package in "${system_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.setup-stamp
wanted=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" "setuptools>=64" wheel
# torch first, pinned to the builds this project is tested with; then sam2, whose source package
# would otherwise build against a freshly downloaded torch. Its optional CUDA kernel only speeds up
# hole filling, so it is not compiled.
"${pip[@]}" "torch==2.14.1" "torchvision==0.29.1"
SAM2_BUILD_CUDA=0 "${pip[@]}" --no-build-isolation "sam2==1.1.0"
"${pip[@]}" --no-build-isolation -e ".[testing]"
echo "$wanted" > "$stamp"
echo "setup: ready (.venv)"
