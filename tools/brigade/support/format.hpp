// Number formatting for the tour's reports: digit grouping, byte sizes, durations and rates,
// written the way a person reads them ("1,111,111", "96 B", "412 ms", "2.7 M/s").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace brigade::tool {

// 1111111 -> "1,111,111".
std::string group_digits(std::uint64_t n);

// The same with a sign: -1234 -> "-1,234", 0 -> "0".
std::string group_digits_signed(std::int64_t n);

// A byte count with a binary unit: "96 B", "1.5 KiB", "101.4 MiB".
std::string format_bytes(double bytes);

// A duration in the unit that reads best (ASCII only): "12.5 us", "0.81 ms",
// "412 ms", "1.27 s".
std::string format_duration(std::chrono::duration<double> d);

// A count per second of `unit`: "950 tasks/s", "12.3 k tasks/s", "4.41 M tasks/s".
std::string format_rate(double per_second, std::string_view unit);

}  // namespace brigade::tool
