#!/usr/bin/env bash
# Prove facegate's CUDA path on a machine with an NVIDIA GPU and measure embed + protect throughput
# at batch 1, 32 and 256. Needs the network once (setup, and onnxruntime-gpu's CUDA/cuDNN wheels).
#   ./scripts/gpu_check.sh                 # prints the GPU, the providers that ran each node, faces/s
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this machine has no NVIDIA driver" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

[ -x .venv/bin/python ] || ./scripts/setup.sh
# CUDA runtime, cuBLAS, cuFFT, cuDNN as pip wheels matching the installed onnxruntime-gpu: no system CUDA needed.
version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('onnxruntime-gpu'))")
.venv/bin/python -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]==${version}"

GLOG_minloglevel=2 .venv/bin/python main.py bench --part gpu --provider cuda
GLOG_minloglevel=2 .venv/bin/python main.py bench --part stages --provider cuda --photos 24
