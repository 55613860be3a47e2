// brigade/fiber/fiber_local.hpp: fiber_local<T>, a variable with one instance per fiber (what
// thread_local is to threads; a thread_local is not per fiber, see fiber/go.hpp).
//
//   brigade::fiber_local<std::string> request_id;     // usually a global or static
//   request_id.get() = "r-42";                        // on a fiber: this fiber's instance
//
// get() creates the fiber's instance on first use (value-initialised) and returns it; it lives
// until the fiber's function has returned, and is destroyed on the fiber, before the joiner
// sees the result. A fiber_local object must outlive every fiber that used it.
// Misuse: get() off a fiber throws usage_error.
// Thread safety: each fiber reaches only its own instance. Cost: get() is an index into the
// fiber's table (grown on first use of a key); making a fiber_local takes a global lock once.
#pragma once

#include <cstddef>
#include <string>

#include "brigade/detail/fiber_core.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade {

template <class T>
class fiber_local {
 public:
  fiber_local() : key_(detail::register_fiber_local(&destroy)) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  /// The calling fiber's instance (made on first use).
  T& get() {
    detail::fiber_core* fiber = detail::current_fiber();
    if (fiber == nullptr) throw usage_error("brigade: fiber_local::get() called outside a fiber");
    void*& slot = fiber->local_slot(key_);
    if (slot == nullptr) slot = new T();
    return *static_cast<T*>(slot);
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  static void destroy(void* value) noexcept { delete static_cast<T*>(value); }
  std::size_t key_;
};

}  // namespace brigade
