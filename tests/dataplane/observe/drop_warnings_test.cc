// DropWarnings on a virtual clock: at most one line per reason per interval, each saying how many
// packets dropped since the reason's previous line, so a flood is summarised and nothing is lost.
#include "dataplane/observe/drop_warnings.h"

#include <rte_log.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/model/log.h"

namespace privlink::dataplane {
namespace {

using ::testing::HasSubstr;

class DropWarningsTest : public ::testing::Test {
 protected:
  DropWarningsTest() : warnings_(clock_, [this](const DropWarning& w) { lines_.push_back(w); }) {}

  void Drop(DropReason reason, uint64_t n) { totals_[static_cast<size_t>(reason)] += n; }
  // Advances the clock in 100 ms steps (the dataplane's check interval), dropping `per_step`
  // packets of `reason` before each check.
  void Run(nat::TimeMs ms, DropReason reason, uint64_t per_step) {
    for (nat::TimeMs t = 0; t < ms; t += 100) {
      clock_.Advance(100);
      Drop(reason, per_step);
      warnings_.Observe(totals_);
    }
  }
  uint64_t Reported(DropReason reason) const {
    uint64_t n = 0;
    for (const DropWarning& w : lines_) n += w.reason == reason ? w.dropped : 0;
    return n;
  }

  nat::VirtualClock clock_{5000};
  DropCounts totals_{};
  std::vector<DropWarning> lines_;
  DropWarnings warnings_;
};

TEST_F(DropWarningsTest, NothingDroppedNothingLogged) {
  Run(5000, DropReason::kNoEndpoint, 0);
  EXPECT_TRUE(lines_.empty());
}

TEST_F(DropWarningsTest, AFloodGivesOneLinePerSecondAndEveryPacketIsCounted) {
  Run(10'000, DropReason::kNoEndpoint, 1000);  // 10 s, 100 checks, 100,000 drops
  // The first drop is reported at once, then one line per second.
  ASSERT_GE(lines_.size(), 10u);
  ASSERT_LE(lines_.size(), 11u);
  for (size_t i = 1; i < lines_.size(); ++i) EXPECT_GE(lines_[i].over_ms, kDropWarningIntervalMs);
  EXPECT_EQ(lines_[0].dropped, 1000u);
  EXPECT_EQ(lines_[1].dropped, 10'000u);  // the second's worth gathered since the first line
  // Nothing is lost: what is not yet reported waits for the next line.
  const uint64_t unreported =
      totals_[static_cast<size_t>(DropReason::kNoEndpoint)] - Reported(DropReason::kNoEndpoint);
  EXPECT_LT(unreported, 10'000u);
  Run(1000, DropReason::kNoEndpoint, 0);
  EXPECT_EQ(Reported(DropReason::kNoEndpoint), 100'000u);
  EXPECT_THAT(lines_[1].text, HasSubstr("10000 packets dropped (no_endpoint) in the last 1.0 s"));
  EXPECT_EQ(lines_[1].log_level, RTE_LOG_NOTICE);
  EXPECT_EQ(lines_[1].log_type, log::dp);
}

TEST_F(DropWarningsTest, ReasonsAreLimitedSeparatelyAndExhaustionIsAWarningOnNat) {
  Drop(DropReason::kNoEndpoint, 1);
  warnings_.Observe(totals_);
  clock_.Advance(100);
  Drop(DropReason::kNatPortsExhausted, 7);
  Drop(DropReason::kNoEndpoint, 1);
  warnings_.Observe(totals_);
  // no_endpoint is within its interval; nat_ports_exhausted has its own.
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1].reason, DropReason::kNatPortsExhausted);
  EXPECT_EQ(lines_[1].dropped, 7u);
  EXPECT_EQ(lines_[1].log_level, RTE_LOG_WARNING);
  EXPECT_EQ(lines_[1].log_type, log::nat);
  EXPECT_THAT(lines_[1].text, HasSubstr("nat_ports_exhausted"));
  clock_.Advance(kDropWarningIntervalMs - 100);
  warnings_.Observe(totals_);
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[2].reason, DropReason::kNoEndpoint);
  EXPECT_EQ(lines_[2].dropped, 1u);
}

TEST(LogTypes, OnePerComponentRegisteredUnderItsName) {
  EXPECT_EQ(rte_log_register("privlink.dp"), log::dp);  // an existing name returns its id
  EXPECT_EQ(rte_log_register("privlink.nat"), log::nat);
  EXPECT_EQ(rte_log_register("privlink.ctl"), log::ctl);
  EXPECT_NE(log::dp, log::nat);
  EXPECT_EQ(rte_log_get_level(static_cast<uint32_t>(log::dp)),
            static_cast<int>(log::kDefaultLevel));
  ASSERT_EQ(rte_log_set_level_pattern("privlink.*", RTE_LOG_DEBUG), 0);
  EXPECT_TRUE(rte_log_can_log(static_cast<uint32_t>(log::ctl), RTE_LOG_DEBUG));
}

}  // namespace
}  // namespace privlink::dataplane
