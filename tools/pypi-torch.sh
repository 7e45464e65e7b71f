#!/bin/sh
# tools/pypi-torch.sh — the current PyPI PyTorch (and torchvision) in a venv
# outside the checkout, made once per machine and reused: what tools/test.sh
# builds the second libtorch line against (docs/testing.md) and what
# docs/install.md's "pip PyTorch" build does on a cluster. Prints the venv's
# python on stdout (everything else goes to stderr).
#
#   RECAL_TORCH_CACHE   the cache directory (default ${XDG_CACHE_HOME:-~/.cache}/recal)
#   RECAL_PYPI_TORCH    torch version (default below), RECAL_PYPI_TORCHVISION its torchvision
#
# The default wheel on PyPI is the CUDA one (~5.4 GB with its nvidia-*
# libraries, about 80 s to install here): it runs on the CPU where there is no
# GPU, and it is what clusters install, so its CUDA, cuDNN and NCCL libraries
# are linked in every test build. Debian's python3 makes the venv (its
# python3-venv), never the system's site-packages.
set -eu
TORCH=${RECAL_PYPI_TORCH:-2.15.0}
VISION=${RECAL_PYPI_TORCHVISION:-0.29.2}
CACHE=${RECAL_TORCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/recal}
VENV=$CACHE/torch-$TORCH
PY=$VENV/bin/python
say() { echo "tools/pypi-torch.sh: $*" >&2; }

have() {
    [ -x "$PY" ] && "$PY" -c "
import sys, torch, torchvision
sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH' and torchvision.__version__.split('+')[0] == '$VISION' else 1)
" 2>/dev/null
}

if have; then
    say "PyTorch $TORCH, torchvision $VISION in $VENV (cached)"
    echo "$PY"
    exit 0
fi
mkdir -p "$CACHE"
# One installer at a time per cache (two CI runs on one machine).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if have; then
    echo "$PY"
    exit 0
fi
say "installing PyTorch $TORCH and torchvision $VISION from PyPI into $VENV (about 5.4 GB, once per machine)"
# A half-made venv (an install that was killed) is made again from nothing.
rm -rf "$VENV"
/usr/bin/python3 -m venv "$VENV" >&2 ||
    { say "cannot make a venv with /usr/bin/python3 (Debian's python3-venv; tools/install-deps.sh installs it)"; exit 1; }
if ! "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH" "torchvision==$VISION" >&2; then
    rm -rf "$VENV"
    say "pip could not install torch==$TORCH torchvision==$VISION (no network? set RECAL_PYPI_TORCH to a version pip can reach)"
    exit 1
fi
have || { say "$PY does not import torch $TORCH after installing it"; exit 1; }
say "done: $PY"
echo "$PY"
