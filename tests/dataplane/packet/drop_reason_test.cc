#include "dataplane/packet/drop_reason.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace privlink::dataplane {
namespace {

TEST(DropReasonTest, EveryReasonHasAUniqueSnakeCaseNameAndHelp) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto reason = static_cast<DropReason>(i);
    const std::string_view name = DropReasonName(reason);
    SCOPED_TRACE(std::string(name));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(drop_reason_internal::IsMetricName(name));
    EXPECT_FALSE(DropReasonHelp(reason).empty());
    EXPECT_TRUE(names.insert(name).second) << "duplicate metric name";
  }
  EXPECT_EQ(names.size(), kDropReasonCount);
}

TEST(DropReasonTest, NamesMatchTheList) {
  EXPECT_EQ(DropReasonName(DropReason::kEthTruncated), "eth_truncated");
  EXPECT_EQ(DropReasonName(DropReason::kIpv4Truncated), "ipv4_truncated");
  EXPECT_EQ(DropReasonName(DropReason::kTcpBadChecksum), "tcp_bad_checksum");
  EXPECT_EQ(DropReasonName(DropReason::kNatIpNoFlow), "nat_ip_no_flow");
  EXPECT_EQ(DropReasonName(DropReason::kMultiSegment), "multi_segment");
  EXPECT_EQ(DropReasonHelp(DropReason::kIpv4Fragment),
            "IPv4 fragment (MF set or offset non-zero): privlink does not reassemble");
}

// Flow setup's failures and their drop reasons come from one list (nat/setup_failures.def).
TEST(DropReasonTest, EverySetupFailureIsCountedUnderItsNamesake) {
  EXPECT_EQ(DropReasonOf(nat::SetupFailure::kNone), DropReason::kCount);
  size_t failures = 0;
  for (int f = 1;; ++f) {
    const auto failure = static_cast<nat::SetupFailure>(f);
    if (nat::SetupFailureName(failure) == "unknown") break;
    SCOPED_TRACE(std::string(nat::SetupFailureName(failure)));
    ++failures;
    const DropReason reason = DropReasonOf(failure);
    ASSERT_NE(reason, DropReason::kCount);
    EXPECT_EQ(DropReasonName(reason), nat::SetupFailureName(failure));
    EXPECT_TRUE(IsSetupFailure(reason));
  }
  EXPECT_EQ(failures, 4u);
  EXPECT_EQ(DropReasonOf(nat::SetupFailure::kNatPortsExhausted), DropReason::kNatPortsExhausted);
  EXPECT_EQ(DropReasonOf(nat::SetupFailure::kNatIpsInvalid), DropReason::kNatIpsInvalid);
  EXPECT_FALSE(IsSetupFailure(DropReason::kNoBackend));
}

TEST(DropReasonTest, ValuesOutsideTheListAreUnknown) {
  EXPECT_EQ(DropReasonName(DropReason::kCount), "unknown");
  EXPECT_EQ(DropReasonName(static_cast<DropReason>(255)), "unknown");
  EXPECT_EQ(DropReasonHelp(DropReason::kCount), "");
}

TEST(DropReasonTest, MetricNameRulesRejectWhatPrometheusLabelsShouldNotCarry) {
  using drop_reason_internal::IsMetricName;
  EXPECT_TRUE(IsMetricName("ipv4_truncated"));
  EXPECT_FALSE(IsMetricName(""));
  EXPECT_FALSE(IsMetricName("Ipv4"));
  EXPECT_FALSE(IsMetricName("ipv4-truncated"));
  EXPECT_FALSE(IsMetricName("_x"));
  EXPECT_FALSE(IsMetricName("x_"));
  EXPECT_FALSE(IsMetricName("4x"));
}

}  // namespace
}  // namespace privlink::dataplane
