# Warnings used for brigade's own code (not forced on users of the installed library).
# Not -Wnull-dereference: with GCC 12 at -O3 it flags paths the code cannot take (an
# exception_ptr in a union branch that is never live, a tuple lookup past its end), and a warning
# that is wrong more often than right trains people to ignore warnings.
add_library(brigade_warnings INTERFACE)
target_compile_options(brigade_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wdouble-promotion
  $<$<CXX_COMPILER_ID:GNU>:-Wno-interference-size>
  # GCC 12 reports std::string concatenation ("k" + std::to_string(i)) at -O3 as a memcpy with
  # overlapping ranges (GCC bug 105329, a false positive in libstdc++'s own code).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
