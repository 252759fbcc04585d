// The daemon's clock: the CPU's time-stamp counter, scaled to milliseconds with a multiply and a
// shift (no division on the worker's path).
#pragma once

#include <rte_cycles.h>

#include "nat/clock.h"

namespace privlink::nat {

class TscClock final : public Clock {
 public:
  TscClock() : start_(rte_get_tsc_cycles()) {
    // ms = cycles * 1000 / hz, as a 32.32 fixed-point multiplier.
    const uint64_t hz = rte_get_tsc_hz();
    mult_ = hz ? (uint64_t{1000} << kShift) / hz : 0;
  }
  TimeMs NowMs() const override {
    const unsigned __int128 cycles = rte_get_tsc_cycles() - start_;
    return static_cast<TimeMs>((cycles * mult_) >> kShift);
  }

 private:
  static constexpr unsigned kShift = 32;
  uint64_t start_;
  uint64_t mult_;
};

}  // namespace privlink::nat
