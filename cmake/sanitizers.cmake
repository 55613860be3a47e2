# BRIGADE_SANITIZER selects one instrumented build for everything in the tree.
#   address: AddressSanitizer + UndefinedBehaviorSanitizer (the frame pool is bypassed, see
#            include/brigade/detail/frame_pool.hpp, so use-after-free of a frame is caught)
#   thread:  ThreadSanitizer
# Build these with clang-16: GCC only makes symmetric transfer a tail call when it optimises
# sibling calls, which instrumentation prevents (../shared/TOOLCHAIN.md).
if(BRIGADE_SANITIZER STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(BRIGADE_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT BRIGADE_SANITIZER STREQUAL "")
  message(FATAL_ERROR "BRIGADE_SANITIZER must be '', 'address' or 'thread', not '${BRIGADE_SANITIZER}'")
endif()
