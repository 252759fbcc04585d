// The engine's notion of time, injected so that every timeout is testable without sleeping.
//
// Time is milliseconds since an arbitrary epoch. Milliseconds are fine-grained enough for TCP
// timeouts (the shortest is seconds) and let a flow entry keep its last-seen time in 32 bits.
#pragma once

#include <atomic>
#include <cstdint>

namespace privlink::nat {

using TimeMs = uint64_t;
// 32-bit timestamps wrap after 49.7 days; compare them only through ElapsedMs().
using TimeMs32 = uint32_t;

// Time from `then` to `now`, wrap-safe. A `then` slightly after `now` (another worker stamped it
// with a later reading) counts as 0, not as 49 days.
constexpr uint32_t ElapsedMs(TimeMs32 now, TimeMs32 then) {
  const auto diff = static_cast<int32_t>(now - then);
  return diff > 0 ? static_cast<uint32_t>(diff) : 0;
}
constexpr TimeMs32 ToMs32(TimeMs t) {
  return static_cast<TimeMs32>(t);
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs NowMs() const = 0;
};

// Tests and replay: time moves only when told to. One thread moves it; any number may read it
// (privlink-bench's workers run on other lcores while its main one keeps the clock on the TSC).
// Relaxed atomics: a plain load and store on x86, so a worker's per-poll read costs the same.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimeMs start = 0) : now_(start) {}
  TimeMs NowMs() const override { return now_.load(std::memory_order_relaxed); }
  void Set(TimeMs now) { now_.store(now, std::memory_order_relaxed); }
  // The single writer's read-modify-write: no other thread moves the clock.
  void Advance(TimeMs delta) { Set(NowMs() + delta); }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace privlink::nat
