# cmake/torch_libs.cmake — after find_package(Torch): make a libtorch that is
# not the system's (the one inside a pip or conda PyTorch, a libtorch zip) link
# and run with its own libraries, whatever else the machine has.
#
# Sets:
#   RECAL_TORCH_LIBDIR         libtorch's lib directory
#   RECAL_TORCH_RPATH          directories recal searches first at run time
#                              (empty for a libtorch in the system's directories)
#   RECAL_TORCH_NCCL_INCLUDE   the include directory of the NCCL a pip PyTorch
#                              ships (empty otherwise)
#
# Why each step:
# 1. TorchConfig finds c10 with find_library(c10 PATHS <prefix>/lib), and
#    find_library searches the system's directories before PATHS: with Debian's
#    libtorch-dev installed as well, Debian's libc10.so (1.13) was linked next
#    to a pip libtorch 2.x — two c10s in one process.
# 2. A pip PyTorch keeps CUDA, cuDNN, cuBLAS and NCCL in
#    site-packages/nvidia/*/lib, named by libtorch_cuda.so's $ORIGIN rpath.
#    The linker looks at LD_LIBRARY_PATH and the system's directories before
#    it, so an older NCCL there (the CUDA toolkit's, a cluster module's) left
#    libtorch_cuda.so's newer symbols undefined ("undefined reference to
#    ncclCommResume"). -rpath-link puts the wheel's directories first at link.
# 3. At run time the same directories come first through DT_RPATH, not
#    DT_RUNPATH: DT_RPATH is searched before LD_LIBRARY_PATH, so `module load
#    cuda nccl` on a cluster node cannot swap the NCCL or cuDNN that PyTorch
#    was built with, and recal runs without LD_LIBRARY_PATH.
set(RECAL_TORCH_LIBDIR "${TORCH_INSTALL_PREFIX}/lib")

# 0. TorchConfig finds its Caffe2 files with find_dependency(... PATHS), which
#    also searches the system first: given only Torch_DIR of a pip libtorch,
#    Debian's Caffe2 targets (libtorch 1.13) were linked under 2.15's headers
#    (undefined at::_ops::… at link). Refuse a mixed pair before compiling.
if(Caffe2_DIR AND EXISTS "${TORCH_INSTALL_PREFIX}/share/cmake/Caffe2")
  get_filename_component(_c2_have "${Caffe2_DIR}" REALPATH)
  get_filename_component(_c2_want "${TORCH_INSTALL_PREFIX}/share/cmake/Caffe2" REALPATH)
  if(NOT _c2_have STREQUAL _c2_want)
    message(FATAL_ERROR "recal: libtorch at ${TORCH_INSTALL_PREFIX} but its Caffe2 CMake files came from "
      "${Caffe2_DIR} (another libtorch). Configure in a new build directory with "
      "-DCMAKE_PREFIX_PATH=${TORCH_INSTALL_PREFIX}/share/cmake, or use tools/build.sh --torch / --libtorch.")
  endif()
endif()
set(RECAL_TORCH_RPATH "")
set(RECAL_TORCH_NCCL_INCLUDE "")

if(EXISTS "${RECAL_TORCH_LIBDIR}/libc10.so" AND DEFINED c10_LIBRARY
   AND NOT c10_LIBRARY STREQUAL "${RECAL_TORCH_LIBDIR}/libc10.so")
  message(STATUS "recal: TorchConfig found ${c10_LIBRARY}; using ${RECAL_TORCH_LIBDIR}/libc10.so")
  set(_libs "")
  foreach(_l IN LISTS TORCH_LIBRARIES)
    if(_l STREQUAL c10_LIBRARY)
      set(_l "${RECAL_TORCH_LIBDIR}/libc10.so")
    endif()
    list(APPEND _libs "${_l}")
  endforeach()
  set(TORCH_LIBRARIES "${_libs}")
  set(c10_LIBRARY "${RECAL_TORCH_LIBDIR}/libc10.so" CACHE FILEPATH "libc10 of the chosen libtorch" FORCE)
endif()

get_filename_component(_torch_lib_real "${RECAL_TORCH_LIBDIR}" REALPATH)
set(_system_dirs /lib /usr/lib /lib64 /usr/lib64 ${CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES})
list(FIND _system_dirs "${_torch_lib_real}" _in_system)
if(_in_system EQUAL -1 AND EXISTS "${RECAL_TORCH_LIBDIR}")
  list(APPEND RECAL_TORCH_RPATH "${RECAL_TORCH_LIBDIR}")
  # pip: site-packages/torch/lib next to site-packages/nvidia/<pkg>/lib
  file(GLOB _nv LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
  list(SORT _nv)
  foreach(_d IN LISTS _nv)
    get_filename_component(_d "${_d}" ABSOLUTE)
    list(APPEND RECAL_TORCH_RPATH "${_d}")
  endforeach()
  if(EXISTS "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include/nccl.h")
    get_filename_component(RECAL_TORCH_NCCL_INCLUDE "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include" ABSOLUTE)
  endif()
  list(LENGTH _nv _n)
  message(STATUS "recal: run-time path: libtorch's lib and ${_n} CUDA library directories of its wheel, first")
endif()
