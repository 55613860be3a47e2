# Warnings used for brigade's own code (not forced on users of the installed library).
add_library(brigade_warnings INTERFACE)
target_compile_options(brigade_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
  $<$<CXX_COMPILER_ID:GNU>:-Wno-interference-size>)
