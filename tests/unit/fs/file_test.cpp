#include "brigade/fs/file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

namespace stdfs = std::filesystem;

/// A fresh directory, removed with everything in it at the end of the test.
class scratch_directory {
 public:
  scratch_directory() {
    std::string pattern = (stdfs::temp_directory_path() / "brigade-file-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = pattern;
  }
  ~scratch_directory() {
    std::error_code ignored;
    stdfs::remove_all(path_, ignored);
  }
  stdfs::path operator/(const char* name) const { return path_ / name; }
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
};

/// Bytes that differ from one position to the next (a shifted or repeated chunk shows).
std::string pattern_of(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>((i * 131 + i / 4093) & 0xFF);
  return text;
}

mode_t current_umask() {
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

TEST(file, a_task_writes_and_reads_back_a_file) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  const stdfs::path path = dir / "hello.txt";
  const std::string got = rt.block_on([](stdfs::path p) -> brigade::task<std::string> {
    co_await brigade::fs::write_file_async(p, "first version, longer than the second");
    co_await brigade::fs::write_file_async(p, "hello, file");  // truncates
    co_return co_await brigade::fs::read_file_async(p);
  }(path));
  EXPECT_EQ(got, "hello, file");
  EXPECT_EQ(stdfs::file_size(path), got.size());
}

TEST(file, an_empty_file_reads_as_an_empty_string) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 1});
  const stdfs::path path = dir / "empty";
  brigade::fs::write_file(path, "");
  EXPECT_TRUE(stdfs::exists(path));
  EXPECT_EQ(rt.block_on(brigade::fs::read_file_async(path)), "");
}

TEST(file, a_large_file_round_trips_in_chunks) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  const stdfs::path path = dir / "large.bin";
  const std::string data = pattern_of((std::size_t{5} << 20) + 12345);  // 5 MiB and a bit: several chunks
  rt.block_on(brigade::fs::write_file_async(path, data));
  EXPECT_EQ(stdfs::file_size(path), data.size());
  const std::string back = rt.block_on(brigade::fs::read_file_async(path));
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(brigade::fs::read_file(path) == data);
}

TEST(file, a_file_without_a_size_is_read_to_its_end) {
  // /proc files report size 0: the read goes on until end of file.
  brigade::runtime rt({.worker_threads = 1});
  const std::string status = rt.block_on(brigade::fs::read_file_async("/proc/self/status"));
  EXPECT_NE(status.find("Name:"), std::string::npos);
  EXPECT_NE(status.find("VmRSS:"), std::string::npos);
}

TEST(file, read_range_is_short_at_end_of_file) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  const stdfs::path path = dir / "digits";
  brigade::fs::write_file(path, "0123456789");
  EXPECT_EQ(rt.block_on(brigade::fs::read_range_async(path, 2, 3)), "234");
  EXPECT_EQ(rt.block_on(brigade::fs::read_range_async(path, 7, 100)), "789");
  EXPECT_EQ(rt.block_on(brigade::fs::read_range_async(path, 10, 5)), "");
  EXPECT_EQ(rt.block_on(brigade::fs::read_range_async(path, 1000, 5)), "");
  EXPECT_EQ(rt.block_on(brigade::fs::read_range_async(path, 0, 0)), "");
  EXPECT_EQ(brigade::fs::read_range(path, 0, 10), "0123456789");
  // Across chunk boundaries of a large file.
  const std::string data = pattern_of((std::size_t{3} << 20) + 7);
  brigade::fs::write_file(path, data);
  const std::uint64_t offset = (std::uint64_t{1} << 20) - 5;
  EXPECT_TRUE(rt.block_on(brigade::fs::read_range_async(path, offset, data.size())) == data.substr(offset));
}

TEST(file, write_range_writes_in_place_without_truncating) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  const stdfs::path path = dir / "blocks";
  brigade::fs::write_file(path, "aaaaaaaaaa");
  rt.block_on(brigade::fs::write_range_async(path, 3, "XYZ"));
  EXPECT_EQ(brigade::fs::read_file(path), "aaaXYZaaaa");
  // Past the end: extends, with a hole (zeros) before.
  brigade::fs::write_range(path, 12, "end");
  EXPECT_EQ(brigade::fs::read_file(path), std::string("aaaXYZaaaa\0\0end", 15));
  // A missing file is created.
  const stdfs::path fresh = dir / "fresh";
  rt.block_on(brigade::fs::write_range_async(fresh, 2, "hi"));
  EXPECT_EQ(brigade::fs::read_file(fresh), std::string("\0\0hi", 4));
}

TEST(file, a_new_file_gets_mode_0644_less_the_umask) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 1});
  const mode_t expected = 0644 & ~current_umask();
  for (const char* name : {"plain", "atomic", "range"}) {
    const stdfs::path path = dir / name;
    if (name == std::string("plain")) rt.block_on(brigade::fs::write_file_async(path, "x"));
    if (name == std::string("atomic")) rt.block_on(brigade::fs::write_file_atomic_async(path, "x"));
    if (name == std::string("range")) rt.block_on(brigade::fs::write_range_async(path, 0, "x"));
    struct stat status {};
    ASSERT_EQ(::stat(path.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, expected) << name;
  }
}

TEST(file, write_file_atomic_replaces_the_file_and_keeps_its_mode) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  const stdfs::path path = dir / "state.json";
  brigade::fs::write_file(path, "{\"old\": true, \"padding\": \"...........\"}");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  rt.block_on(brigade::fs::write_file_atomic_async(path, "{\"new\": true}"));
  EXPECT_EQ(brigade::fs::read_file(path), "{\"new\": true}");
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  EXPECT_NE(after.st_ino, before.st_ino);  // a new file renamed over the old one
  // The thread form, and no temporary file is left behind.
  brigade::fs::write_file_atomic(path, "third");
  EXPECT_EQ(brigade::fs::read_file(path), "third");
  std::vector<std::string> names;
  for (const auto& entry : stdfs::directory_iterator(dir.path())) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"state.json"});
}

TEST(file, a_failed_atomic_write_leaves_the_file_untouched) {
  scratch_directory dir;
  const stdfs::path target = dir / "target";
  stdfs::create_directory(target);  // a directory: the write must fail
  try {
    brigade::fs::write_file_atomic(target, "data");
    FAIL() << "expected an error";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::is_a_directory);
    EXPECT_NE(std::string(error.what()).find("write_file_atomic " + target.string()), std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(stdfs::is_directory(target));
  // A stop before the rename removes the temporary file and keeps the old contents.
  const stdfs::path path = dir / "kept";
  brigade::fs::write_file(path, "old");
  std::stop_source stop;
  stop.request_stop();
  EXPECT_THROW(brigade::fs::write_file_atomic(path, "new", stop.get_token()), brigade::task_cancelled);
  EXPECT_EQ(brigade::fs::read_file(path), "old");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : stdfs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 2u);  // target/ and kept
}

TEST(file, errors_name_the_operation_and_the_path) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 1});
  const stdfs::path missing = dir / "no" / "such" / "file";
  auto expect_error = [&](auto&& call, std::errc code, const std::string& text) {
    try {
      call();
      ADD_FAILURE() << "expected an error: " << text;
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code(), code) << error.what();
      EXPECT_EQ(std::string(error.what()), text);
    }
  };
  const std::string where = missing.string();
  expect_error([&] { (void)rt.block_on(brigade::fs::read_file_async(missing)); }, std::errc::no_such_file_or_directory,
               "brigade: read_file " + where + ": No such file or directory");
  expect_error([&] { (void)brigade::fs::read_file(missing); }, std::errc::no_such_file_or_directory,
               "brigade: read_file " + where + ": No such file or directory");
  expect_error([&] { rt.block_on(brigade::fs::write_file_async(missing, "x")); },
               std::errc::no_such_file_or_directory, "brigade: write_file " + where + ": No such file or directory");
  expect_error([&] { (void)rt.block_on(brigade::fs::read_range_async(missing, 0, 1)); },
               std::errc::no_such_file_or_directory, "brigade: read_range " + where + ": No such file or directory");
  expect_error([&] { rt.block_on(brigade::fs::write_range_async(missing, 0, "x")); },
               std::errc::no_such_file_or_directory, "brigade: write_range " + where + ": No such file or directory");
  expect_error([&] { (void)brigade::fs::read_file(dir.path()); }, std::errc::is_a_directory,
               "brigade: read_file " + dir.path().string() + ": Is a directory");
  expect_error([&] { (void)brigade::fs::read_range(dir / "x", ~std::uint64_t{0}, 1); }, std::errc::invalid_argument,
               "brigade: read_range " + (dir / "x").string() + ": Invalid argument");
}

TEST(file, thread_forms_refuse_a_worker_thread) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 1});
  const stdfs::path path = dir / "f";
  brigade::fs::write_file(path, "x");
  const int refused = rt.block_on([](stdfs::path p) -> brigade::task<int> {
    int count = 0;
    try { (void)brigade::fs::read_file(p); } catch (const brigade::usage_error&) { ++count; }
    try { brigade::fs::write_file(p, "y"); } catch (const brigade::usage_error&) { ++count; }
    try { brigade::fs::write_file_atomic(p, "y"); } catch (const brigade::usage_error&) { ++count; }
    try { (void)brigade::fs::read_range(p, 0, 1); } catch (const brigade::usage_error&) { ++count; }
    try { brigade::fs::write_range(p, 0, "y"); } catch (const brigade::usage_error&) { ++count; }
    co_return count;
  }(path));
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(brigade::fs::read_file(path), "x");  // none of them wrote
}

TEST(file, the_task_forms_run_on_a_plain_threads_runtime_from_many_tasks) {
  scratch_directory dir;
  brigade::runtime rt({.worker_threads = 2});
  std::vector<brigade::join_handle<std::string>> handles;
  for (int i = 0; i < 32; ++i) {
    handles.push_back(rt.spawn([](stdfs::path p, std::string text) -> brigade::task<std::string> {
      co_await brigade::fs::write_file_async(p, text);
      co_return co_await brigade::fs::read_file_async(p);
    }(dir.path() / ("f" + std::to_string(i)), "contents " + std::to_string(i))));
  }
  for (int i = 0; i < 32; ++i) EXPECT_EQ(handles[static_cast<std::size_t>(i)].join(), "contents " + std::to_string(i));
}

TEST(file, a_thread_form_with_a_stopped_token_does_nothing) {
  scratch_directory dir;
  const stdfs::path path = dir / "untouched";
  brigade::fs::write_file(path, "before");
  std::stop_source stop;
  stop.request_stop();
  EXPECT_THROW((void)brigade::fs::read_file(path, stop.get_token()), brigade::task_cancelled);
  EXPECT_THROW(brigade::fs::write_file(path, "after", stop.get_token()), brigade::task_cancelled);
  EXPECT_THROW(brigade::fs::write_range(path, 0, "after", stop.get_token()), brigade::task_cancelled);
  EXPECT_EQ(brigade::fs::read_file(path), "before");
}

TEST(file, an_aborted_task_returns_while_its_blocking_call_finishes_on_the_pool) {
  // A FIFO with a writer that writes nothing: the blocking call is stuck in read(). The task is
  // aborted and ends at once; the call completes later on the pool and its result is dropped.
  scratch_directory dir;
  const stdfs::path fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  brigade::runtime rt({.worker_threads = 2});
  auto reader = rt.spawn(brigade::fs::read_file_async(fifo));
  // A non-blocking open for writing succeeds only once the reader has the FIFO open.
  int writer = -1;
  while ((writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
    ASSERT_EQ(errno, ENXIO);
    std::this_thread::yield();
  }
  reader.abort();
  EXPECT_THROW((void)reader.join(), brigade::task_cancelled);
  // Unblock the pool's call (if it did not see its stopped token before its read): it reads end
  // of file, and nobody sees the result. (No write: the reader may be gone, and a write would
  // raise SIGPIPE.)
  ::close(writer);
  rt.shutdown();  // waits for the pool's call: it has ended
}

TEST(file, a_task_form_awaited_off_a_runtime_is_a_usage_error) {
  // A coroutine run by hand, on this thread (no runtime): the awaited task form refuses.
  struct runner {
    struct promise_type {
      std::exception_ptr error;
      runner get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
      std::suspend_never initial_suspend() noexcept { return {}; }
      std::suspend_always final_suspend() noexcept { return {}; }
      void return_void() {}
      void unhandled_exception() { error = std::current_exception(); }
    };
    std::coroutine_handle<promise_type> handle;
  };
  auto run = []() -> runner { (void)co_await brigade::fs::read_file_async("/dev/null"); }();
  ASSERT_TRUE(run.handle.done());
  EXPECT_THROW(std::rethrow_exception(run.handle.promise().error), brigade::usage_error);
  run.handle.destroy();
}

}  // namespace
