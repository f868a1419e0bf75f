# kerasc CMake package: the C runtime as an INTERFACE target and kerasc_add_model(), which runs
# `kerasc convert` at build time. Found three ways, all giving the same result:
#   add_subdirectory(path/to/kerasc)                      (source checkout; the top-level CMakeLists.txt)
#   find_package(kerasc) with kerasc_DIR=$(kerasc --cmake-dir)   (pip-installed kerasc)
#   find_package(kerasc) with CMAKE_PREFIX_PATH=path/to/kerasc   (source checkout)
#
#   kerasc::runtime      INTERFACE target: include directory of kc_runtime.h, links libm
#   KERASC_EXECUTABLE    cache variable: the command that runs kerasc, as a ;-list
#                        (default: the found Python 3 with `-m kerasc`)
#   kerasc_add_model(<target> MODEL <file> [NAME <name>] [SELF_TEST] [OUTPUT_DIR <dir>] [OPTIONS <arg>...])
#       see cmake/kerasc.cmake
cmake_minimum_required(VERSION 3.17)

include("${CMAKE_CURRENT_LIST_DIR}/kerasc.cmake")
