// brigade/fs/file.hpp: reading and writing whole files, and ranges of them, from tasks and
// threads (the essays' `fs.readFile`).
//
//   std::string config = co_await brigade::fs::read_file_async("/etc/app.toml");
//   co_await brigade::fs::write_file_async("out.txt", text);           // create or truncate
//   co_await brigade::fs::write_file_atomic_async("state.json", json);  // all or nothing
//   std::string header = co_await brigade::fs::read_range_async("data.bin", 0, 512);
//   co_await brigade::fs::write_range_async("data.bin", 4096, block);  // in place, no truncation
//   std::string text = brigade::fs::read_file("notes.txt");            // on a plain thread
//
// Naming, as for every brigade wait (docs/ARCHITECTURE.md, "One naming rule"): the _async form
// is awaited by a task; the plain name is an ordinary blocking call for a plain thread (or a
// blocking-pool call), and on a worker thread of a runtime it throws usage_error (it would stall
// the worker and every task queued on it). A task form awaited off a runtime's worker throws
// usage_error.
//
// How: today every task form runs its system calls on the runtime's blocking pool
// (spawn_blocking), under both reactor backends, so a worker never waits for a disk. The task
// forms are declared here and defined in src/fs/file.cpp: an io_uring path (read/write
// requests on the ring) can replace the pool underneath without changing this interface or its
// guarantees.
//
// Guarantees:
//   - read_file reads until end of file: a file that grows while it is read is read to where
//     its end was when a read returned 0; a file whose size the kernel does not report (/proc,
//     pipes) is read all the same. The size from fstat is reserved up front and the file is read
//     in chunks of at most 1 MiB.
//   - write_file creates the file (mode 0644, less the process's umask) or truncates it, then
//     writes everything. It is not atomic: a reader may see a truncated or partly written file,
//     and a failure or cancellation leaves one. write_file_atomic writes a temporary file in
//     the same directory (".<name>.brigade-XXXXXX"), fsyncs it, renames it over `path` and
//     fsyncs the directory: readers see the old contents or the new, never a mix, and after a
//     crash the file is one of the two. It keeps the permission bits of the file it replaces
//     (not its owner, hard links or extended attributes: it is a new file); a new file gets
//     0644 less the umask. On failure or cancellation the temporary file is removed and `path`
//     is untouched.
//   - read_range reads up to `length` bytes from `offset`; the result is shorter only at end of
//     file (empty from or past the end). write_range writes all of `data` at `offset`, creating
//     the file (0644 less the umask) if it is missing, never truncating it (a write past the end
//     extends it, with a hole before it).
//   - System calls interrupted by a signal (EINTR) are restarted; short reads and writes go on
//     where they stopped. Descriptors are opened close-on-exec and closed before returning.
//   - The task forms copy `data` when they are called (the copy, not the caller's buffer, is
//     written: the blocking call may outlive a cancelled caller, as in Tokio's fs::write).
//
// Errors: std::system_error with the errno, the operation and the path in the message
// ("brigade: read_file /x/y: No such file or directory"). An offset beyond the largest file
// offset (off_t) is errc::invalid_argument. Misuse (above): usage_error. A task form whose
// runtime shuts down while its call is queued throws task_cancelled.
//
// Cancellation: awaiting a task form is a cancellation point. A stop request of the awaiting
// task's scope (abort(), a failing sibling, ...) ends the co_await at once with task_cancelled
// and asks the blocking call to stop: the call checks its stop_token before each chunk and ends
// there, or, inside one system call, finishes it on the pool and its result is dropped. A
// cancelled read read nothing the caller sees. A cancelled write may have written a prefix of
// its data (write_file: the file is truncated and holds that prefix); a cancelled
// write_file_atomic leaves `path` untouched. The thread forms take an optional std::stop_token,
// checked in the same places (task_cancelled on its stop).
//
// Thread safety: every call is independent; concurrent calls on the same file behave as the
// system calls do (no locking: two writes to overlapping ranges interleave in no defined way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>

#include "brigade/runtime/task.hpp"

namespace brigade::fs {

// --- task forms (co_await) ----------------------------------------------------------------

/// The whole contents of the file at `path`.
[[nodiscard("co_await the read")]] task<std::string> read_file_async(std::filesystem::path path);
/// Creates or truncates the file at `path` and writes `data` (copied now). Not atomic.
[[nodiscard("co_await the write")]] task<void> write_file_async(std::filesystem::path path, std::string_view data);
/// Replaces the file at `path` with `data` (copied now) atomically (temporary file + rename).
[[nodiscard("co_await the write")]] task<void> write_file_atomic_async(std::filesystem::path path,
                                                                      std::string_view data);
/// Up to `length` bytes of the file at `path`, from `offset`; shorter only at end of file.
[[nodiscard("co_await the read")]] task<std::string> read_range_async(std::filesystem::path path,
                                                                     std::uint64_t offset, std::size_t length);
/// Writes `data` (copied now) at `offset` of the file at `path` (created if missing), without
/// truncating it.
[[nodiscard("co_await the write")]] task<void> write_range_async(std::filesystem::path path, std::uint64_t offset,
                                                                std::string_view data);

// --- thread forms (block the calling thread; usage_error on a runtime's worker) --------------

[[nodiscard]] std::string read_file(const std::filesystem::path& path, std::stop_token token = {});
void write_file(const std::filesystem::path& path, std::string_view data, std::stop_token token = {});
void write_file_atomic(const std::filesystem::path& path, std::string_view data, std::stop_token token = {});
[[nodiscard]] std::string read_range(const std::filesystem::path& path, std::uint64_t offset, std::size_t length,
                                     std::stop_token token = {});
void write_range(const std::filesystem::path& path, std::uint64_t offset, std::string_view data,
                 std::stop_token token = {});

}  // namespace brigade::fs
