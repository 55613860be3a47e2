// brigade/detail/cache_line.hpp: padding that keeps data written by different threads on
// different cache lines, so that one thread's writes do not invalidate another's reads (false
// sharing).
//
// `cache_line_size` is 128 on x86-64 rather than 64: the adjacent-line prefetcher pulls pairs of
// lines, so two hot fields 64 bytes apart still interfere (the same choice as Folly, Tokio and
// crossbeam). Thread safety: types only.
#pragma once

#include <cstddef>

namespace brigade::detail {

#if defined(__x86_64__) || defined(__aarch64__)
inline constexpr std::size_t cache_line_size = 128;
#else
inline constexpr std::size_t cache_line_size = 64;
#endif

}  // namespace brigade::detail
