#!/usr/bin/env bash
# Set up facegate on a fresh Debian/Ubuntu machine: system libraries, a virtual environment with the
# project and its test tools, and every model rebuilt from its pinned registry package.
# Safe to run again: each step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# MediaPipe needs EGL/GLES at run time, Qt's offscreen platform needs a few X libraries, the
# descriptor's weights come from the npm registry, and the MQTT door output and
# the site (many doors) are tested against real mosquitto and PostgreSQL servers; the GUI is also
# tested under a real X server (Xvfb) through Qt's xcb platform, which needs the xcb libraries.
packages=(libgles2 libegl1 libgl1 libglib2.0-0 libxkbcommon0 libfontconfig1 libdbus-1-3 mosquitto postgresql openssl
          xvfb libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
          libxcb-shape0 libxcb-randr0 libxcb-xinerama0)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The train extra brings PyTorch (CPU), which reads the anti-spoofing parameters safely for their
# conversion to ONNX (and trains the protector); the kiosk itself never imports it.
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test,lint,train]"
.venv/bin/python main.py models build
