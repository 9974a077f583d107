// pg_basebackup's --progress output ("12345/67890 kB (18%), 0/1 tablespace"), split into lines
// at '\n' and '\r' as agent/process.cpp does, parsed and fed to the progress reporter with a
// clock that moves 5 s per line, as during a clone: nothing crashes, whatever the numbers.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "roles/clone.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

class SteppingClock : public replagent::agent::Clock {
 public:
  time_point now() const override { return now_; }
  wall_time wall_now() const override { return {}; }  // the reporter reads only now()
  bool sleep_for(std::chrono::milliseconds d) override {
    now_ += d;
    return true;
  }

 private:
  time_point now_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  SteppingClock clock;
  replagent::roles::ProgressReporter reporter(clock, std::chrono::seconds(5));
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (auto p = replagent::roles::parse_progress_line(line)) {
      FUZZ_CHECK(p->percent >= 0);
      FUZZ_CHECK(line.find(" kB (") != std::string_view::npos);
      clock.sleep_for(std::chrono::seconds(5));
      if (auto msg = reporter.update(*p)) FUZZ_CHECK(msg->rfind("clone progress ", 0) == 0);
    }
    start = end + 1;
  }
  FUZZ_CHECK(!reporter.summary().empty());
  return 0;
}
