#!/usr/bin/env bash
# Installs what building and testing Sentei needs on a fresh Debian 12 machine (run as root). Idempotent.
# Swift 6 itself must already be on PATH (swift.org toolchain); everything else comes from Debian and PyPI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_packages=(
  pkg-config libturbojpeg0-dev libjpeg-dev libv4l-dev libsystemd-dev   # system libraries the package links
  libonnx-testdata                                                      # ONNX backend node test cases
  qemu-user                                                             # ISA dispatch tests (Haswell, Nehalem)
  systemd                                                               # systemd-analyze verify/security
  gcc                                                                   # the LD_PRELOAD allocation counter (check-allocations.py)
  bc curl ca-certificates
)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Reference checks (engine parity, detections, mAP) run ONNX Runtime and pycocotools.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  "numpy>=1.26" "onnx==1.23.*" "onnxruntime==1.32.*" "pillow>=10" "pycocotools>=2.0.8"
# Training gradients are checked against PyTorch; the +cpu build avoids gigabytes of CUDA wheels.
# matplotlib draws bench/adapt's level plot.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  "torch==2.13.0+cpu" "matplotlib>=3.8"
command -v swift >/dev/null || { echo "setup-deps: swift is not on PATH (install the Swift 6 toolchain)" >&2; exit 1; }
echo "setup-deps: ok"
