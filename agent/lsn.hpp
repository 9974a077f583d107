#pragma once

// WAL positions (LSNs) as PostgreSQL writes them, "16/B374D848", and as byte positions.

#include <cstdint>
#include <optional>
#include <string>

namespace replagent::agent {

// "16/B374D848" -> byte position; nullopt when malformed.
std::optional<std::uint64_t> parse_lsn(const std::string& text);
std::string format_lsn(std::uint64_t lsn);

}  // namespace replagent::agent
