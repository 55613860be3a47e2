#include "support/format.hpp"

#include <array>
#include <fmt/format.h>

namespace brigade::tool {

std::string group_digits(std::uint64_t n) {
  std::string digits = fmt::format("{}", n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string group_digits_signed(std::int64_t n) {
  // The magnitude in unsigned arithmetic, so that the most negative value has one too.
  const std::uint64_t magnitude =
      n < 0 ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  return fmt::format("{}{}", n < 0 ? "-" : "", group_digits(magnitude));
}

std::string format_bytes(double bytes) {
  static constexpr std::array<const char*, 5> units{"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (bytes >= 1024.0 && unit + 1 < units.size()) {
    bytes /= 1024.0;
    ++unit;
  }
  if (unit == 0) return bytes < 10.0 ? fmt::format("{:.1f} B", bytes) : fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string format_duration(std::chrono::duration<double> d) {
  const double s = d.count();
  if (s >= 1.0) return fmt::format("{:.2f} s", s);
  if (s >= 0.1) return fmt::format("{:.0f} ms", s * 1e3);
  if (s >= 0.001) return fmt::format("{:.2f} ms", s * 1e3);
  return fmt::format("{:.1f} us", s * 1e6);
}

std::string format_rate(double per_second, std::string_view unit) {
  if (per_second >= 1e9) return fmt::format("{:.2f} G {}/s", per_second / 1e9, unit);
  if (per_second >= 1e6) return fmt::format("{:.2f} M {}/s", per_second / 1e6, unit);
  if (per_second >= 1e3) return fmt::format("{:.1f} k {}/s", per_second / 1e3, unit);
  return fmt::format("{:.0f} {}/s", per_second, unit);
}

}  // namespace brigade::tool
