#include "brigade/net/resolve.hpp"

#include <gtest/gtest.h>
#include <netdb.h>

#include <string>
#include <vector>

#include "brigade/runtime/runtime.hpp"

namespace {

using brigade::net::endpoint;
using brigade::net::resolve;
using brigade::net::resolve_async;

bool is_loopback(const endpoint& ep) {
  return ep.to_string().starts_with("127.") || ep.to_string().starts_with("[::1]:");
}

TEST(resolve, localhost_resolves_to_loopback) {
  brigade::runtime rt({.worker_threads = 1});
  for (const auto& found : {rt.block_on(resolve_async("localhost", 8080)), resolve("localhost", 8080)}) {
    ASSERT_FALSE(found.empty());
    for (const endpoint& ep : found) {
      EXPECT_TRUE(is_loopback(ep)) << ep.to_string();
      EXPECT_EQ(ep.port(), 8080);
    }
    for (std::size_t i = 0; i < found.size(); ++i)
      for (std::size_t j = i + 1; j < found.size(); ++j) EXPECT_NE(found[i], found[j]);  // each once
  }
}

TEST(resolve, a_numeric_address_resolves_to_itself) {
  brigade::runtime rt({.worker_threads = 1});
  for (const std::string address : {"127.0.0.1", "::1", "10.1.2.3", "2001:db8::7"}) {
    const std::vector<endpoint> expected{endpoint::from(address, 443)};
    EXPECT_EQ(rt.block_on(resolve_async(address, 443)), expected) << address;
    EXPECT_EQ(resolve(address, 443), expected) << address;
  }
}

TEST(resolve, a_name_that_does_not_exist_throws_naming_the_host) {
  brigade::runtime rt({.worker_threads = 1});
  const std::string host = "nonexistent.invalid";  // .invalid never resolves (RFC 6761)
  auto check = [&](auto lookup) {
    try {
      (void)lookup();
      ADD_FAILURE() << host << " resolved";
    } catch (const std::system_error& error) {
      // EAI_NONAME where DNS answers; EAI_AGAIN, EAI_FAIL or an errno where there is no network.
      EXPECT_TRUE(error.code().category() == brigade::net::resolve_category() ||
                  error.code().category() == std::system_category())
          << error.code().category().name();
      EXPECT_NE(error.code().value(), 0);
      EXPECT_NE(std::string(error.what()).find(host), std::string::npos) << error.what();
    }
  };
  check([&] { return rt.block_on(resolve_async(host, 80)); });
  check([&] { return resolve(host, 80); });
}

TEST(resolve, the_category_speaks_gai_strerror) {
  const std::error_code code(EAI_NONAME, brigade::net::resolve_category());
  EXPECT_STREQ(code.category().name(), "brigade.resolve");
  EXPECT_EQ(code.message(), ::gai_strerror(EAI_NONAME));
  EXPECT_EQ(std::error_code(EAI_MEMORY, brigade::net::resolve_category()), std::errc::not_enough_memory);
}

TEST(resolve, bad_host_names_and_misuse_are_refused) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW((void)rt.block_on(resolve_async("", 80)), std::invalid_argument);
  EXPECT_THROW((void)resolve("", 80), std::invalid_argument);
  EXPECT_THROW((void)resolve(std::string("local\0host", 10), 80), std::invalid_argument);
  // The thread form on a worker would stall it.
  EXPECT_THROW((void)rt.block_on([]() -> brigade::task<std::vector<endpoint>> { co_return resolve("localhost", 80); }()),
               brigade::usage_error);
}

}  // namespace
