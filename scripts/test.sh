#!/usr/bin/env bash
# The guard-rails, then the test suite (arguments go to pytest): the README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check kiosk models ui tests scripts main.py
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
