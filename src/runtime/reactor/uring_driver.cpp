// The io_uring backend of the reactor (built when liburing is found): see io_driver.hpp.
#include "io_driver.hpp"

#include <system_error>

namespace brigade::detail {

#if !BRIGADE_HAVE_LIBURING
bool uring_driver_built() noexcept { return false; }
std::unique_ptr<io_driver> make_uring_driver() {
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          "brigade: built without liburing");
}
#endif

}  // namespace brigade::detail
