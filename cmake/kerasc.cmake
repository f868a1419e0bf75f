# kerasc::runtime and kerasc_add_model(); included by kerascConfig.cmake and by the top-level
# CMakeLists.txt. Works from a source checkout (<root>/cmake beside <root>/kerasc) and from an
# installed package (<site-packages>/kerasc/cmake inside the kerasc package).
include_guard(GLOBAL)

get_filename_component(_kerasc_parent "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
if(EXISTS "${_kerasc_parent}/kerasc/__init__.py")
  set(_kerasc_package_dir "${_kerasc_parent}/kerasc")       # source checkout
  set(_kerasc_python_path "${_kerasc_parent}")
  set(_kerasc_installed FALSE)
elseif(EXISTS "${_kerasc_parent}/__init__.py")
  set(_kerasc_package_dir "${_kerasc_parent}")              # installed package
  get_filename_component(_kerasc_python_path "${_kerasc_parent}/.." ABSOLUTE)
  set(_kerasc_installed TRUE)
else()
  message(FATAL_ERROR "kerasc: ${CMAKE_CURRENT_LIST_DIR} is neither in a kerasc checkout nor in an installed "
                      "kerasc package; point kerasc_DIR at the output of `kerasc --cmake-dir`")
endif()
# runtime_c/ and templates/ sit beside cmake/ in both layouts
set(KERASC_RUNTIME_INCLUDE_DIR "${_kerasc_parent}/runtime_c")

if(NOT TARGET kerasc::runtime)
  add_library(kerasc::runtime INTERFACE IMPORTED GLOBAL)
  set_target_properties(kerasc::runtime PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${KERASC_RUNTIME_INCLUDE_DIR}")
  # the kernels call expf/tanhf; newlib and glibc keep them in libm
  if(NOT MSVC)
    set_property(TARGET kerasc::runtime PROPERTY INTERFACE_LINK_LIBRARIES m)
  endif()
endif()

# The command that runs kerasc. Default: `python -m kerasc` with the kerasc this file belongs to,
# run by the Python of the virtual environment it is installed in, else by the Python 3 CMake finds
# (set Python3_EXECUTABLE to choose). Python runs on the build machine, so cross builds work too.
set(KERASC_EXECUTABLE "" CACHE STRING "Command that runs kerasc, as a ;-list, e.g. kerasc or /venv/bin/python;-m;kerasc")
if(KERASC_EXECUTABLE)
  set(_kerasc_command ${KERASC_EXECUTABLE})
else()
  set(_kerasc_python "")
  if(_kerasc_installed)
    # <venv>/lib/pythonX.Y/site-packages/kerasc/cmake -> <venv>/bin/python3 (Windows: <venv>/Scripts)
    get_filename_component(_kerasc_venv "${_kerasc_python_path}/../../.." ABSOLUTE)
    get_filename_component(_kerasc_venv_win "${_kerasc_python_path}/../.." ABSOLUTE)
    find_program(KERASC_VENV_PYTHON NAMES python3 python
                 PATHS "${_kerasc_venv}/bin" "${_kerasc_venv_win}/Scripts" NO_DEFAULT_PATH)
    mark_as_advanced(KERASC_VENV_PYTHON)
    if(KERASC_VENV_PYTHON AND (EXISTS "${_kerasc_venv}/pyvenv.cfg" OR EXISTS "${_kerasc_venv_win}/pyvenv.cfg"))
      set(_kerasc_python "${KERASC_VENV_PYTHON}")
    endif()
  endif()
  if(NOT _kerasc_python)
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    set(_kerasc_python "${Python3_EXECUTABLE}")
  endif()
  set(_kerasc_command "${CMAKE_COMMAND}" -E env "PYTHONPATH=${_kerasc_python_path}" "${_kerasc_python}" -m kerasc)
endif()
set(KERASC_COMMAND ${_kerasc_command} CACHE INTERNAL "the command kerasc_add_model runs")

# Regenerate when kerasc itself changes, not only the model.
file(GLOB_RECURSE _kerasc_own_files CONFIGURE_DEPENDS
     "${_kerasc_package_dir}/*.py" "${_kerasc_parent}/templates/*.j2" "${KERASC_RUNTIME_INCLUDE_DIR}/*.h")
set(KERASC_OWN_FILES ${_kerasc_own_files} CACHE INTERNAL "files whose change regenerates kerasc headers")

# kerasc_add_model(<target> MODEL <file> [NAME <name>] [SELF_TEST] [OUTPUT_DIR <dir>] [OPTIONS <arg>...])
#
# Runs `kerasc convert <file> --name <name> -o <dir> [OPTIONS...]` at build time, before <target>
# compiles and again whenever <file> (or kerasc) changes, and adds <dir> (holding <name>.h and
# kc_runtime.h) to <target>'s include directories.
#   NAME        C prefix of every symbol (default: the file name, lower-cased, as a C identifier)
#   OUTPUT_DIR  where the files go (default: ${CMAKE_CURRENT_BINARY_DIR}/kerasc/<name>)
#   SELF_TEST   also generate <name>_selftest.c and add it to <target>'s sources (needs TensorFlow
#               at build time; define KERASC_SELFTEST_NO_MAIN when <target> has its own main)
#   OPTIONS     further arguments for `kerasc convert`
# Sets <name>_KERASC_HEADER (and <name>_KERASC_SELFTEST) in the caller's scope.
function(kerasc_add_model target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "SELF_TEST" "MODEL;NAME;OUTPUT_DIR" "OPTIONS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kerasc_add_model(${target}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}; supported: "
                        "MODEL <file> NAME <name> SELF_TEST OUTPUT_DIR <dir> OPTIONS <arg>...")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "kerasc_add_model(${target}): no target named '${target}'; create it first "
                        "(add_executable/add_library)")
  endif()
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "kerasc_add_model(${target}): MODEL <file> is required")
  endif()
  get_filename_component(model "${ARG_MODEL}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${model}")
    message(FATAL_ERROR "kerasc_add_model(${target}): MODEL ${model} does not exist")
  endif()
  if(ARG_NAME)
    set(name "${ARG_NAME}")
  else()
    get_filename_component(name "${model}" NAME_WE)
    string(TOLOWER "${name}" name)
    string(MAKE_C_IDENTIFIER "${name}" name)
  endif()
  if(ARG_OUTPUT_DIR)
    get_filename_component(out_dir "${ARG_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  else()
    set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/kerasc/${name}")
  endif()

  set(header "${out_dir}/${name}.h")
  set(outputs "${header}" "${out_dir}/kc_runtime.h")
  set(flags)
  if(ARG_SELF_TEST)
    set(selftest "${out_dir}/${name}_selftest.c")
    list(APPEND outputs "${selftest}")
    list(APPEND flags --self-test)
  endif()

  # One rule per output directory, shared by every target that uses it (two rules writing the
  # same files could run in parallel).
  string(MD5 key "${out_dir}")
  string(SUBSTRING "${key}" 0 8 key)
  set(gen kerasc_${name}_${key})
  set(signature "${model}|${ARG_SELF_TEST}|${ARG_OPTIONS}")
  if(TARGET ${gen})
    get_target_property(previous ${gen} KERASC_SIGNATURE)
    if(NOT previous STREQUAL signature)
      message(FATAL_ERROR "kerasc_add_model(${target}): ${out_dir} is already generated from another MODEL or "
                          "other options (${previous}); give this one another NAME or OUTPUT_DIR")
    endif()
  else()
    file(RELATIVE_PATH shown "${CMAKE_SOURCE_DIR}" "${model}")
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${KERASC_COMMAND} convert "${model}" --name "${name}" -o "${out_dir}" ${flags} ${ARG_OPTIONS}
      DEPENDS "${model}" ${KERASC_OWN_FILES}
      COMMENT "kerasc: ${shown} -> ${name}.h"
      VERBATIM)
    add_custom_target(${gen} DEPENDS ${outputs})
    set_target_properties(${gen} PROPERTIES KERASC_SIGNATURE "${signature}")
  endif()

  add_dependencies(${target} ${gen})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE "${out_dir}")
    target_link_libraries(${target} INTERFACE kerasc::runtime)
  else()
    target_include_directories(${target} PUBLIC "${out_dir}")
    target_link_libraries(${target} PUBLIC kerasc::runtime)
  endif()
  if(ARG_SELF_TEST)
    set_source_files_properties("${selftest}" PROPERTIES GENERATED TRUE)
    target_sources(${target} PRIVATE "${selftest}")
    set(${name}_KERASC_SELFTEST "${selftest}" PARENT_SCOPE)
  endif()
  set(${name}_KERASC_HEADER "${header}" PARENT_SCOPE)
endfunction()
