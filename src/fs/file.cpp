// See brigade/fs/file.hpp. The system calls (run on the calling thread by the thread forms, on
// the blocking pool by the task forms) and the task forms' hop to the pool.
#include "brigade/fs/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::fs {
namespace {

namespace stdfs = std::filesystem;

/// The most one system call reads or writes: the stop token is looked at between chunks.
constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
/// What a read past the expected end asks for first (the read that finds end of file).
constexpr std::size_t probe_bytes = 4096;
constexpr std::uint64_t max_offset = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());

[[noreturn]] void fail(int error, const char* operation, const stdfs::path& path) {
  throw std::system_error(error, std::system_category(), std::string("brigade: ") + operation + " " + path.string());
}

void check_stop(const std::stop_token& token, const char* operation, const stdfs::path& path) {
  if (token.stop_requested()) [[unlikely]]
    throw task_cancelled(std::string("brigade: ") + operation + " " + path.string() +
                         " cancelled (a stop was requested)");
}

void check_offset(std::uint64_t offset, const char* operation, const stdfs::path& path) {
  if (offset > max_offset) fail(EINVAL, operation, path);
}

/// An open descriptor, closed on destruction (errors ignored) or by close_checked.
class descriptor {
 public:
  explicit descriptor(int fd) noexcept : fd_(fd) {}
  descriptor(const descriptor&) = delete;
  descriptor& operator=(const descriptor&) = delete;
  ~descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  /// Closes and reports an error (a deferred write error on NFS, say). EINTR is not retried: on
  /// Linux the descriptor is closed by then.
  void close_checked(const char* operation, const stdfs::path& path) {
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0 && errno != EINTR) fail(errno, operation, path);
  }

 private:
  int fd_;
};

int open_file(const stdfs::path& path, int flags, mode_t mode, const char* operation) {
  for (;;) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return fd;
    if (errno != EINTR) fail(errno, operation, path);
  }
}

/// One read (at `offset` when `positioned`); 0 at end of file.
std::size_t read_once(int fd, char* buffer, std::size_t size, bool positioned, std::uint64_t offset,
                      const char* operation, const stdfs::path& path) {
  for (;;) {
    const ssize_t n = positioned ? ::pread(fd, buffer, size, static_cast<off_t>(offset)) : ::read(fd, buffer, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) fail(errno, operation, path);
  }
}

/// Reads up to `limit` bytes until end of file, `expected` of them presumably there (reserved
/// up front, with room for the read that finds the end).
std::string read_until_end(int fd, bool positioned, std::uint64_t offset, std::size_t limit, std::size_t expected,
                           const std::stop_token& token, const char* operation, const stdfs::path& path) {
  expected = std::min(expected, limit);
  std::string out;
  out.reserve(expected < limit ? expected + std::min(probe_bytes, limit - expected) : expected);
  out.resize(expected);
  std::size_t filled = 0;
  while (filled < limit) {
    if (filled == out.size()) {
      // Past what was expected: the file grew, or its size is not known (/proc, a pipe). Grow
      // geometrically (the first step fits in the reserve).
      std::size_t room = filled == expected ? probe_bytes : std::max(probe_bytes, std::min(filled, chunk_bytes));
      room = std::min(room, limit - filled);
      out.resize(filled + room);
    }
    if (positioned && offset + filled > max_offset) break;  // nothing lies past the largest offset
    check_stop(token, operation, path);
    const std::size_t n = read_once(fd, out.data() + filled, std::min(chunk_bytes, out.size() - filled), positioned,
                                    offset + filled, operation, path);
    if (n == 0) break;
    filled += n;
  }
  out.resize(filled);
  return out;
}

/// Writes all of `data` (at `offset` when `positioned`), a chunk per system call.
void write_all(int fd, std::string_view data, bool positioned, std::uint64_t offset, const std::stop_token& token,
               const char* operation, const stdfs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    check_stop(token, operation, path);
    const std::size_t size = std::min(chunk_bytes, data.size() - done);
    const ssize_t n = positioned ? ::pwrite(fd, data.data() + done, size, static_cast<off_t>(offset + done))
                                 : ::write(fd, data.data() + done, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, operation, path);
    }
    if (n == 0) fail(EIO, operation, path);  // a regular file never writes nothing; do not spin
    done += static_cast<std::size_t>(n);
  }
}

void sync_file(int fd, const char* operation, const stdfs::path& path) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) fail(errno, operation, path);
  }
}

std::size_t regular_size(int fd, const char* operation, const stdfs::path& path) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) fail(errno, operation, path);
  if (!S_ISREG(status.st_mode) || status.st_size <= 0) return 0;
  return static_cast<std::size_t>(status.st_size);
}

// --- the calls -----------------------------------------------------------------------------

std::string read_file_now(const stdfs::path& path, const std::stop_token& token) {
  constexpr const char* operation = "read_file";
  check_stop(token, operation, path);
  descriptor fd(open_file(path, O_RDONLY, 0, operation));
  const std::size_t expected = regular_size(fd.get(), operation, path);
  return read_until_end(fd.get(), false, 0, std::numeric_limits<std::size_t>::max(), expected, token, operation,
                        path);
}

std::string read_range_now(const stdfs::path& path, std::uint64_t offset, std::size_t length,
                           const std::stop_token& token) {
  constexpr const char* operation = "read_range";
  check_offset(offset, operation, path);
  check_stop(token, operation, path);
  descriptor fd(open_file(path, O_RDONLY, 0, operation));
  const std::size_t size = regular_size(fd.get(), operation, path);
  const std::size_t expected = size > offset ? size - static_cast<std::size_t>(offset) : 0;
  return read_until_end(fd.get(), true, offset, length, expected, token, operation, path);
}

void write_file_now(const stdfs::path& path, std::string_view data, const std::stop_token& token) {
  constexpr const char* operation = "write_file";
  check_stop(token, operation, path);
  descriptor fd(open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, operation));
  write_all(fd.get(), data, false, 0, token, operation, path);
  fd.close_checked(operation, path);
}

void write_range_now(const stdfs::path& path, std::uint64_t offset, std::string_view data,
                     const std::stop_token& token) {
  constexpr const char* operation = "write_range";
  check_offset(offset, operation, path);
  if (data.size() > max_offset - offset) fail(EFBIG, operation, path);
  check_stop(token, operation, path);
  descriptor fd(open_file(path, O_WRONLY | O_CREAT, 0644, operation));
  write_all(fd.get(), data, true, offset, token, operation, path);
  fd.close_checked(operation, path);
}

/// A name for the temporary file beside `path` that no other writer (thread or process) picks.
stdfs::path temporary_beside(const stdfs::path& path, unsigned attempt) {
  static std::atomic<std::uint64_t> serial{0};
  std::uint64_t mix = serial.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull;
  mix ^= static_cast<std::uint64_t>(::getpid()) << 32;
  mix ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  mix ^= attempt;
  mix ^= mix >> 29;
  mix *= 0xBF58476D1CE4E5B9ull;
  mix ^= mix >> 32;
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string suffix;
  for (int i = 0; i < 8; ++i) {
    suffix += digits[mix % 36];
    mix /= 36;
  }
  stdfs::path temporary = path;
  temporary.replace_filename("." + path.filename().string() + ".brigade-" + suffix);
  return temporary;
}

void write_file_atomic_now(const stdfs::path& path, std::string_view data, const std::stop_token& token) {
  constexpr const char* operation = "write_file_atomic";
  check_stop(token, operation, path);
  if (!path.has_filename()) fail(EISDIR, operation, path);
  // The permission bits of the file being replaced, if there is one.
  struct stat existing {};
  bool keep_mode = false;
  if (::stat(path.c_str(), &existing) == 0) {
    if (S_ISDIR(existing.st_mode)) fail(EISDIR, operation, path);
    keep_mode = S_ISREG(existing.st_mode);
  }
  stdfs::path temporary;
  int raw = -1;
  for (unsigned attempt = 0; raw < 0; ++attempt) {
    temporary = temporary_beside(path, attempt);
    raw = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (raw < 0 && errno != EEXIST && errno != EINTR) fail(errno, operation, path);
    if (raw < 0 && attempt > 100) fail(EEXIST, operation, path);
  }
  descriptor fd(raw);
  try {
    if (keep_mode && ::fchmod(fd.get(), existing.st_mode & 07777) != 0) fail(errno, operation, path);
    write_all(fd.get(), data, false, 0, token, operation, path);
    sync_file(fd.get(), operation, path);
    fd.close_checked(operation, path);
    check_stop(token, operation, path);  // the last point where the old contents can stay
    if (::rename(temporary.c_str(), path.c_str()) != 0) fail(errno, operation, path);
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  // Make the rename itself durable. Some file systems cannot sync a directory (EINVAL): the
  // replacement has happened all the same.
  stdfs::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    descriptor held(directory_fd);
    while (::fsync(held.get()) != 0) {
      if (errno == EINTR) continue;
      if (errno != EINVAL && errno != EROFS) fail(errno, operation, path);
      break;
    }
  }
}

// --- the task forms' hop to the blocking pool ----------------------------------------------

/// Runs `function(stop_token)` on the blocking pool of the runtime that runs the awaiting task.
/// A stop of the awaiting task ends the await with task_cancelled and stops the call's token.
template <class Function>
auto on_blocking_pool(const char* operation, Function function) -> task<detail::blocking_result_t<Function>> {
  runtime* current = runtime::current();
  if (current == nullptr)
    throw usage_error(std::string("brigade: fs::") + operation +
                      "_async awaited outside a runtime's worker thread; use fs::" + operation + " there");
  auto handle = current->spawn_blocking(std::move(function));
  try {
    co_return co_await handle;
  } catch (const task_cancelled&) {
    // This task was stopped (or the call was cancelled by shutdown): stop the call at its next
    // chunk; its result, if it still comes, is dropped with the handle.
    handle.abort();
    throw;
  }
}

void refuse_worker(const char* operation) { detail::refuse_blocking_on_worker(operation); }

}  // namespace

task<std::string> read_file_async(std::filesystem::path path) {
  return on_blocking_pool("read_file",
                          [path = std::move(path)](std::stop_token token) { return read_file_now(path, token); });
}

task<void> write_file_async(std::filesystem::path path, std::string_view data) {
  return on_blocking_pool("write_file", [path = std::move(path), data = std::string(data)](std::stop_token token) {
    write_file_now(path, data, token);
  });
}

task<void> write_file_atomic_async(std::filesystem::path path, std::string_view data) {
  return on_blocking_pool("write_file_atomic",
                          [path = std::move(path), data = std::string(data)](std::stop_token token) {
                            write_file_atomic_now(path, data, token);
                          });
}

task<std::string> read_range_async(std::filesystem::path path, std::uint64_t offset, std::size_t length) {
  return on_blocking_pool("read_range", [path = std::move(path), offset, length](std::stop_token token) {
    return read_range_now(path, offset, length, token);
  });
}

task<void> write_range_async(std::filesystem::path path, std::uint64_t offset, std::string_view data) {
  return on_blocking_pool("write_range",
                          [path = std::move(path), offset, data = std::string(data)](std::stop_token token) {
                            write_range_now(path, offset, data, token);
                          });
}

std::string read_file(const std::filesystem::path& path, std::stop_token token) {
  refuse_worker("fs::read_file");
  return read_file_now(path, token);
}

void write_file(const std::filesystem::path& path, std::string_view data, std::stop_token token) {
  refuse_worker("fs::write_file");
  write_file_now(path, data, token);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data, std::stop_token token) {
  refuse_worker("fs::write_file_atomic");
  write_file_atomic_now(path, data, token);
}

std::string read_range(const std::filesystem::path& path, std::uint64_t offset, std::size_t length,
                       std::stop_token token) {
  refuse_worker("fs::read_range");
  return read_range_now(path, offset, length, token);
}

void write_range(const std::filesystem::path& path, std::uint64_t offset, std::string_view data,
                 std::stop_token token) {
  refuse_worker("fs::write_range");
  write_range_now(path, offset, data, token);
}

}  // namespace brigade::fs
