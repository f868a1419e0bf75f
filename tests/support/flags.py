"""The one set of compiler flags the suite builds generated C with (non-negotiable 5: -std=c99 -Wall
-Wextra -Wpedantic -Werror on gcc and clang, as C++ too, and with arm-none-eabi-gcc for Cortex-M),
plus the stricter warnings a firmware team typically turns on."""

# warnings for C and C++ alike
WARN = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wdouble-promotion", "-Wvla", "-Wcast-qual",
        "-Werror"]
# warnings that exist for C only
C_ONLY = ["-Wstrict-prototypes", "-Wmissing-prototypes", "-Wdeclaration-after-statement"]
# a C99 translation unit
STRICT = ["-std=c99", *WARN, *C_ONLY]
# the same header compiled as C++ (g++/clang++)
CXX = ["-x", "c++", "-std=c++11", *WARN]
# AVR: double is float there, so -Wdouble-promotion has nothing to say (and avr-libc's math.h trips it)
AVR_STRICT = [f for f in STRICT if f != "-Wdouble-promotion"]
# Cortex-M cores (arm-none-eabi-gcc)
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
M0 = ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]
