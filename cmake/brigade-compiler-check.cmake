# brigade-compiler-check.cmake: refuses, at configure time, a g++ older than 13 unless the project
# opts in. Included by brigade's own CMakeLists.txt and, installed beside brigade-config.cmake,
# by every find_package(brigade): a consumer hears about it before its first build.
#
# Why: g++ 12 (Debian 12's default) destroys the temporaries of a co_await expression twice.
# `co_await brigade::spawn_blocking([path] { ... })` with a capturing lambda, or
# `co_await tx.send_async(request{...})` with a braced temporary, crash with a double free (at -O2 and
# at -O0; clang compiles both correctly). Naming the temporary in a variable before the co_await
# avoids it; nothing a library can do from its side does. Debian 12 packages clang-16 and clang-19.
#
# Opt in with -DBRIGADE_ALLOW_GCC_BELOW_13=ON: the build goes on, and the code must name every
# temporary it passes to a co_await (brigade's own sources do).
include_guard(GLOBAL)

function(brigade_check_compiler who)
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "CXX" IN_LIST languages)
    return()  # nothing to check: the project compiles no C++ (yet)
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU" OR CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 13)
    return()
  endif()
  if(BRIGADE_ALLOW_GCC_BELOW_13)
    message(STATUS "brigade: building with g++ ${CMAKE_CXX_COMPILER_VERSION} (BRIGADE_ALLOW_GCC_BELOW_13=ON): "
                   "name every temporary before you co_await it")
    return()
  endif()
  message(FATAL_ERROR
    "brigade: ${who} is configured with g++ ${CMAKE_CXX_COMPILER_VERSION} (${CMAKE_CXX_COMPILER}).\n"
    "g++ older than 13 miscompiles temporaries in co_await expressions: idiomatic code such as\n"
    "    co_await brigade::spawn_blocking([path] { return read(path); });\n"
    "    co_await tx.send_async(request{body, id});\n"
    "frees them twice and crashes. Build with clang instead (Debian 12: apt-get install clang-16):\n"
    "    cmake -S . -B build -DCMAKE_CXX_COMPILER=clang++-16    (a new build directory)\n"
    "or, for brigade itself, use its presets (cmake --preset release), which use clang-16.\n"
    "To go on with this g++ anyway (and name every temporary before co_await-ing it):\n"
    "    -DBRIGADE_ALLOW_GCC_BELOW_13=ON")
endfunction()
