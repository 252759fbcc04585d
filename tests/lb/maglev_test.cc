#include "lb/maglev.h"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace privlink::lb {
namespace {

using Slot = MaglevTable::Slot;

// Backend names shaped like the control plane's ("ip:port"); `first` lets tests add new ones.
std::vector<MaglevBackend> MakeBackends(size_t count, uint32_t weight = 1, size_t first = 0) {
  std::vector<MaglevBackend> backends;
  for (size_t i = first; i < first + count; ++i) {
    backends.push_back(MaglevBackend{
        .name = absl::StrFormat("10.%d.%d.%d:8080", i >> 16, (i >> 8) & 0xff, i & 0xff),
        .weight = weight});
  }
  return backends;
}

MaglevTable BuildOrDie(const std::vector<MaglevBackend>& backends,
                       uint32_t table_size = kDefaultMaglevTableSize) {
  absl::StatusOr<MaglevTable> table = BuildMaglevTable(backends, table_size);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *std::move(table) : MaglevTable();
}

std::vector<uint32_t> CountSlots(const MaglevTable& table, size_t backend_count) {
  std::vector<uint32_t> counts(backend_count, 0);
  for (Slot slot : table.slots()) {
    EXPECT_LT(slot, backend_count) << "slot left empty or out of range";
    if (slot < backend_count) ++counts[slot];
  }
  return counts;
}

// Slot -> backend name, so tables built from differently ordered lists can be compared.
std::vector<std::string> SlotNames(const MaglevTable& table,
                                   const std::vector<MaglevBackend>& backends) {
  std::vector<std::string> names;
  names.reserve(table.size());
  for (Slot slot : table.slots()) names.push_back(backends.at(slot).name);
  return names;
}

size_t CountDiffering(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  return differing;
}

class EqualWeightsTest : public ::testing::TestWithParam<size_t> {};

TEST_P(EqualWeightsTest, SlotCountsDifferByAtMostOnePercentOfTheMean) {
  const size_t n = GetParam();
  const MaglevTable table = BuildOrDie(MakeBackends(n));
  ASSERT_EQ(table.size(), kDefaultMaglevTableSize);
  const std::vector<uint32_t> counts = CountSlots(table, n);
  const auto [min, max] = std::minmax_element(counts.begin(), counts.end());
  const double mean = static_cast<double>(kDefaultMaglevTableSize) / n;
  // Never tighter than the one slot that M not being a multiple of n forces.
  EXPECT_LE(*max - *min, std::max(0.01 * mean, 1.0)) << "min " << *min << " max " << *max;
}

TEST_P(EqualWeightsTest, AddingOneBackendMovesAboutItsShare) {
  const size_t n = GetParam();
  std::vector<MaglevBackend> backends = MakeBackends(n);
  const std::vector<std::string> before = SlotNames(BuildOrDie(backends), backends);
  backends.push_back(MakeBackends(1, 1, /*first=*/1000).front());
  const std::vector<std::string> after = SlotNames(BuildOrDie(backends), backends);

  const double table_size = kDefaultMaglevTableSize;
  const size_t moved = CountDiffering(before, after);
  EXPECT_LE(moved, table_size / (n + 1) + 0.01 * table_size) << "moved " << moved;
  const size_t to_new = std::count(after.begin(), after.end(), backends.back().name);
  EXPECT_NEAR(to_new, table_size / (n + 1), 0.01 * table_size / (n + 1));
}

TEST_P(EqualWeightsTest, RemovingOneBackendMovesItsSlotsAndFewOthers) {
  const size_t n = GetParam();
  std::vector<MaglevBackend> backends = MakeBackends(n);
  const std::vector<std::string> before = SlotNames(BuildOrDie(backends), backends);
  const std::string removed = backends[n / 2].name;
  backends.erase(backends.begin() + n / 2);
  const std::vector<std::string> after = SlotNames(BuildOrDie(backends), backends);

  size_t others_moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_NE(after[i], removed);
    if (before[i] != removed) others_moved += before[i] != after[i];
  }
  EXPECT_LE(others_moved, 0.01 * kDefaultMaglevTableSize) << "others moved " << others_moved;
}

INSTANTIATE_TEST_SUITE_P(BackendCounts, EqualWeightsTest,
                         ::testing::Values(2, 3, 7, 10, 100, 1000));

struct WeightCase {
  std::string label;
  std::vector<uint32_t> weights;
  uint32_t table_size;
};

void PrintTo(const WeightCase& c, std::ostream* os) {
  *os << c.label;
}

class WeightedTest : public ::testing::TestWithParam<WeightCase> {};

TEST_P(WeightedTest, SlotShareMatchesWeightShareWithinOnePercent) {
  const WeightCase& c = GetParam();
  std::vector<MaglevBackend> backends = MakeBackends(c.weights.size());
  uint64_t total_weight = 0;
  for (size_t i = 0; i < backends.size(); ++i) {
    backends[i].weight = c.weights[i];
    total_weight += c.weights[i];
  }
  const MaglevTable table = BuildOrDie(backends, c.table_size);
  ASSERT_EQ(table.size(), c.table_size);
  const std::vector<uint32_t> counts = CountSlots(table, backends.size());
  for (size_t i = 0; i < backends.size(); ++i) {
    const double expected = static_cast<double>(c.table_size) * c.weights[i] / total_weight;
    // 1% of the share, but never tighter than the one slot that rounding may cost.
    EXPECT_NEAR(counts[i], expected, std::max(0.01 * expected, 1.0))
        << "backend " << i << " weight " << c.weights[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WeightedTest,
    ::testing::Values(
        WeightCase{"OneToFour", {1, 2, 3, 4}, kDefaultMaglevTableSize},
        WeightCase{"TwoToOne", {2, 1}, kDefaultMaglevTableSize},
        WeightCase{"OneHeavy", {1, 1, 1, 100}, kDefaultMaglevTableSize},
        WeightCase{"Draining", {5, 0, 5, 0}, kDefaultMaglevTableSize},
        WeightCase{"Skewed", {1, 1000000}, kDefaultMaglevTableSize},
        WeightCase{"HugeWeights", {4294967295u, 4294967294u, 1431655765u}, kDefaultMaglevTableSize},
        WeightCase{"SmallPrime", {1, 2, 3, 4}, 251}, WeightCase{"MediumPrime", {3, 3, 1}, 4099},
        WeightCase{"LargePrime", {1, 2, 3, 4, 5}, 1000003}),
    [](const ::testing::TestParamInfo<WeightCase>& info) { return info.param.label; });

TEST(MaglevTest, DrainingBackendGetsNoSlots) {
  std::vector<MaglevBackend> backends = MakeBackends(7);
  backends[3].weight = 0;
  const std::vector<uint32_t> counts = CountSlots(BuildOrDie(backends), backends.size());
  EXPECT_EQ(counts[3], 0u);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i == 3) continue;
    EXPECT_NEAR(counts[i], kDefaultMaglevTableSize / 6.0, 1.0) << "backend " << i;
  }
}

TEST(MaglevTest, DrainingABackendMovesOnlyItsSlotsAndFewOthers) {
  std::vector<MaglevBackend> backends = MakeBackends(10);
  const std::vector<std::string> before = SlotNames(BuildOrDie(backends), backends);
  backends[4].weight = 0;
  const std::vector<std::string> after = SlotNames(BuildOrDie(backends), backends);
  size_t others_moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] != backends[4].name) others_moved += before[i] != after[i];
  }
  EXPECT_LE(others_moved, 0.01 * kDefaultMaglevTableSize);
}

TEST(MaglevTest, SameInputGivesIdenticalTable) {
  const std::vector<MaglevBackend> backends = MakeBackends(10, 3);
  const MaglevTable a = BuildOrDie(backends);
  const MaglevTable b = BuildOrDie(backends);
  EXPECT_TRUE(std::ranges::equal(a.slots(), b.slots()));
}

TEST(MaglevTest, ReorderingTheListKeepsTheSlotToNameMapping) {
  std::vector<MaglevBackend> backends = MakeBackends(50);
  for (size_t i = 0; i < backends.size(); ++i) backends[i].weight = 1 + i % 4;
  const std::vector<std::string> original = SlotNames(BuildOrDie(backends), backends);

  std::vector<MaglevBackend> reversed(backends.rbegin(), backends.rend());
  EXPECT_EQ(SlotNames(BuildOrDie(reversed), reversed), original);

  std::vector<MaglevBackend> shuffled = backends;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  const MaglevTable shuffled_table = BuildOrDie(shuffled);
  EXPECT_EQ(SlotNames(shuffled_table, shuffled), original);
  // The indices themselves do follow the new order.
  EXPECT_FALSE(std::ranges::equal(shuffled_table.slots(), BuildOrDie(backends).slots()));
}

// Tables must be the same after a restart, in another process or on another machine, so the name
// hash must never change silently. These values pin it; update them only on purpose, knowing that
// every service's flows would be rebalanced by the upgrade.
TEST(MaglevTest, TableIsPinnedAcrossProcessesAndReleases) {
  const std::vector<MaglevBackend> backends = {
      {.name = "192.168.10.11:8080", .weight = 1},
      {.name = "192.168.10.12:8080", .weight = 2},
      {.name = "192.168.10.13:8080", .weight = 1},
  };
  const std::vector<Slot> expected_small = {2, 1, 1, 1, 1, 2, 1, 0, 1, 1, 2, 0, 0};
  EXPECT_TRUE(std::ranges::equal(BuildOrDie(backends, 13).slots(), expected_small));

  std::vector<MaglevBackend> ten;
  for (int i = 0; i < 10; ++i) ten.push_back({.name = absl::StrFormat("10.0.0.%d:8080", i)});
  const std::vector<Slot> expected_head = {6, 4, 9, 8, 1, 9, 2, 8, 4, 1, 9, 4,
                                           7, 3, 6, 2, 5, 8, 9, 3, 8, 6, 1, 8};
  EXPECT_TRUE(
      std::ranges::equal(BuildOrDie(ten).slots().first(expected_head.size()), expected_head));
}

TEST(MaglevTest, PickReachesEverySlotAndEveryBackend) {
  const std::vector<MaglevBackend> backends = MakeBackends(10);
  const MaglevTable table = BuildOrDie(backends, 4099);
  // The smallest hash mapped to slot s is ceil(s * 2^32 / M).
  for (uint32_t s = 0; s < table.size(); ++s) {
    const uint32_t hash =
        static_cast<uint32_t>(((uint64_t{s} << 32) + table.size() - 1) / table.size());
    ASSERT_EQ(table.Pick(hash), table.slots()[s]) << "slot " << s;
  }
  EXPECT_EQ(table.Pick(0xffffffffu), table.slots().back());

  std::set<Slot> picked;
  std::mt19937 rng(7);
  std::vector<uint32_t> picks(backends.size(), 0);
  constexpr int kPicks = 100000;
  for (int i = 0; i < kPicks; ++i) ++picks[table.Pick(static_cast<uint32_t>(rng()))];
  for (size_t i = 0; i < picks.size(); ++i) {
    EXPECT_NEAR(picks[i], kPicks / 10.0, 0.05 * kPicks / 10.0) << "backend " << i;
  }
}

TEST(MaglevTest, MostBackendsThatFitStillBuild) {
  const MaglevTable table = BuildOrDie(MakeBackends(kMaxMaglevBackends));
  const std::vector<uint32_t> counts = CountSlots(table, kMaxMaglevBackends);
  EXPECT_EQ(std::count(counts.begin(), counts.end(), 0), 0) << "a backend got no slot";
}

struct ErrorCase {
  std::string label;
  std::vector<MaglevBackend> backends;
  uint32_t table_size;
  std::string message_part;
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.label;
}

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, RejectedWithMessageNamingTheProblem) {
  const ErrorCase& c = GetParam();
  const absl::StatusOr<MaglevTable> table = BuildMaglevTable(c.backends, c.table_size);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(table.status().message()).find(c.message_part), std::string::npos)
      << table.status();
}

std::vector<MaglevBackend> WithDuplicateName() {
  std::vector<MaglevBackend> backends = MakeBackends(5);
  backends[3].name = backends[1].name;
  return backends;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ErrorTest,
    ::testing::Values(
        ErrorCase{"Empty", {}, kDefaultMaglevTableSize, "backends: list is empty"},
        ErrorCase{"AllDraining", MakeBackends(3, 0), kDefaultMaglevTableSize, "weight 0"},
        ErrorCase{"TooManyBackends", MakeBackends(kMaxMaglevBackends + 1), 1000003,
                  "backends: 65535 given"},
        ErrorCase{"DuplicateName", WithDuplicateName(), kDefaultMaglevTableSize,
                  "backends[3].name"},
        ErrorCase{"SizeNotPrime", MakeBackends(3), 65536, "table_size: 65536 is not prime"},
        ErrorCase{"SizeZero", MakeBackends(3), 0, "table_size: 0 is not prime"},
        ErrorCase{"SizeOne", MakeBackends(1), 1, "table_size: 1 is not prime"},
        ErrorCase{"SizeSquareOfPrime", MakeBackends(3), 3721, "not prime"},
        ErrorCase{"SizeTooLarge", MakeBackends(3), 16777259, "above the maximum"},
        ErrorCase{"SizeBelowBackendCount", MakeBackends(10), 7,
                  "table_size: 7 is smaller than the number of backends (10)"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.label; });

}  // namespace
}  // namespace privlink::lb
