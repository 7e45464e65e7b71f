#!/bin/sh
# Install the Debian 12 packages recal needs, only those that are missing.
# Runtime: libtorch, Open MPI, libyaml, zlib, OpenSSL's libcrypto, libjpeg-turbo
# and libpng (ImageNet decoding), OpenBLAS
# (Debian's default reference BLAS makes libtorch's linear layers ~30x
# slower). Build: cmake, a C/C++ compiler. Tests and tools: python3-torch
# (model export, oracles), python3-pil (the dataset decode oracle), cmocka, the
# Fashion-MNIST dataset; python3-pip fetches Captum (--no-deps) for the
# oracle/captum test and Quantus for oracle/quantus, whose dependencies are
# these Debian ones: python3-pandas, -scipy (also the statistics oracle), -sklearn, -skimage, -tqdm, -opencv
# (python3-skimage also checks the quickshift superpixels); python3-torchvision
# defines the ResNet-50 of tools/export_models.py; python3-matplotlib
# draws the report's figures
# (tools/report.py); Slurm (slurmctld, slurmd, client commands) with munge for
# the `recal submit` test, which starts its own single-node cluster (slurm/testing/);
# iproute2 and util-linux (ip, nsenter, unshare) for the multi-node test's
# cluster of network namespaces.
# Images: libjpeg-turbo and libpng. Hardening (issue #9): clang with its
# libFuzzer runtime (libclang-rt-14-dev) for tests/fuzz, valgrind for
# tools/valgrind-unit.sh. strace: integration/listed_once counts each rank's
# file-system calls (issue #37), as does bench/startup_tree.sh.
set -eu
PKGS="build-essential cmake pkg-config libtorch-dev python3-torch python3-numpy python3-pip
      libopenmpi-dev openmpi-bin libyaml-dev zlib1g-dev libssl-dev libcmocka-dev
      libturbojpeg0-dev libpng-dev python3-pil libvlfeat-dev liblapacke-dev
      libopenblas0-pthread dataset-fashion-mnist python3-matplotlib slurm-wlm munge
      python3-pandas python3-scipy python3-sklearn python3-skimage python3-tqdm python3-opencv python3-torchvision
      clang libclang-rt-14-dev clang-format valgrind iproute2 util-linux python3-venv strace"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all Debian packages present"
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
