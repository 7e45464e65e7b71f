#!/bin/sh
# tools/gpu/fetch-debs.sh — gather, on a Debian 12 machine with internet, what
# tools/gpu/check.sh needs on a GPU machine that has none: the Debian packages
# recal builds and runs with (as .deb files, unpacked there into a private
# prefix), nccl.h in case the GPU machine's PyTorch has no NCCL headers, and
# Captum for the benchmark baselines. Everything lands in .gpu/ (git-ignored
# through .git/info/exclude; the device tool carries it with carry: [".gpu"]).
set -eu
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo /.gpu/ >>.git/info/exclude; }
mkdir -p .gpu/debs .gpu/include
# Runtime + headers; Open MPI with the libraries its plugins load.
(cd .gpu/debs && apt-get download \
    libyaml-0-2 libyaml-dev zlib1g-dev libssl-dev libssl3 pkgconf pkgconf-bin libpkgconf3 \
    libturbojpeg0 libturbojpeg0-dev libpng16-16 libpng-dev libvlfeat1 libvlfeat-dev \
    liblapacke liblapacke-dev liblapack3 libblas3 libtmglib3 libgfortran5 libquadmath0 \
    libcmocka0 libcmocka-dev \
    libopenmpi3 libopenmpi-dev openmpi-bin openmpi-common libhwloc15 libevent-core-2.1-7 \
    libevent-pthreads-2.1-7 libevent-2.1-7 libpmix2 libfabric1 libucx0 libibverbs1 librdmacm1 \
    libpsm2-2 libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnuma1 libltdl7 libmunge2 \
    libxnvctrl0 libpciaccess0 libx11-6 libxext6 libxau6 libxcb1 libxdmcp6 libbsd0 libmd0)
for h in /usr/local/cuda/include/nccl.h /usr/include/nccl.h /usr/local/include/nccl.h; do
    [ -f "$h" ] && { cp "$h" .gpu/include/; break; }
done
python3 -m pip download -q --no-deps captum==0.8.0 -d .gpu/wheels
python3 -m pip install -q --no-deps --no-compile --target .gpu/whl/site .gpu/wheels/captum-0.8.0-py3-none-any.whl
rm -rf .gpu/wheels
du -sh .gpu
