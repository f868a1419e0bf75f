# Version of the kerasc CMake package; kept equal to kerasc.__version__ (a test checks it).
# Compatible with requests at or below it with the same major version (for 0.x: the same minor).
set(PACKAGE_VERSION "0.1.0")

string(REPLACE "." ";" _kerasc_parts "${PACKAGE_VERSION}")
list(GET _kerasc_parts 0 _kerasc_major)
list(GET _kerasc_parts 1 _kerasc_minor)

if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT PACKAGE_FIND_VERSION_MAJOR EQUAL _kerasc_major)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(_kerasc_major EQUAL 0 AND NOT PACKAGE_FIND_VERSION_MINOR EQUAL _kerasc_minor)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()

if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
