#!/usr/bin/env bash
# The project's test command (README and .ci/run): installs what the tests need, then runs them.
# CPU torch first, from its pinned build: an unpinned torch would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v Xvfb >/dev/null; then  # napari's canvas needs a GL context: a virtual X server
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
            libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 >/dev/null
    else
        echo "Xvfb is missing: sudo apt-get install xvfb libxcb-icccm4 libxcb-keysyms1" >&2
    fi
fi
# Its own venv (an editable install of this checkout), so a user's .venv stays as they installed it
venv=${TEST_VENV:-.venv-test}
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch==2.13.0
"$venv/bin/pip" install -q -e ".[testing]"
"$venv/bin/ruff" check src tests scripts
export OMP_WAIT_POLICY=PASSIVE
"$venv/bin/python" -m pytest "$@"
