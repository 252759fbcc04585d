// CowMap against std::map over random operations, and the sharing it promises: a copy shares
// every chunk until written, a write to one copy never shows in another, Diff reports exactly
// the keys that differ.
#include "control/model/cow_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace privlink::control {
namespace {

using Map = CowMap<int, std::string>;

std::map<int, std::string> AsStd(const Map& m) {
  std::map<int, std::string> out;
  int previous = -1;
  for (const auto& [k, v] : m) {
    EXPECT_GT(k, previous) << "iteration out of order";
    previous = k;
    out.emplace(k, v);
  }
  return out;
}

TEST(CowMapTest, MatchesStdMapOverRandomOperations) {
  std::mt19937 rng(7);
  Map map;
  std::map<int, std::string> reference;
  for (int step = 0; step < 20000; ++step) {
    const int key = static_cast<int>(rng() % 600);
    switch (rng() % 4) {
      case 0:
      case 1:
        EXPECT_EQ(map.Set(key, std::to_string(step)), reference.count(key) == 0);
        reference[key] = std::to_string(step);
        break;
      case 2:
        EXPECT_EQ(map.erase(key), reference.erase(key));
        break;
      default:
        if (std::string* v = map.FindMutable(key)) {
          *v += "!";
          reference[key] += "!";
        } else {
          EXPECT_EQ(reference.count(key), 0u);
        }
    }
    ASSERT_EQ(map.size(), reference.size());
  }
  EXPECT_EQ(AsStd(map), reference);
  for (int key = -1; key <= 601; ++key) {
    auto lb = map.lower_bound(key);
    auto rlb = reference.lower_bound(key);
    ASSERT_EQ(lb == map.end(), rlb == reference.end()) << key;
    if (rlb != reference.end()) EXPECT_EQ(lb->first, rlb->first);
    auto ub = map.upper_bound(key);
    auto rub = reference.upper_bound(key);
    ASSERT_EQ(ub == map.end(), rub == reference.end()) << key;
    if (rub != reference.end()) EXPECT_EQ(ub->first, rub->first);
  }
}

TEST(CowMapTest, CopiesAreIndependentAndDiffReportsWhatDiffers) {
  std::mt19937 rng(11);
  Map base;
  for (int i = 0; i < 5000; ++i) base.Set(i * 2, "v" + std::to_string(i));
  for (int round = 0; round < 50; ++round) {
    Map copy = base;
    EXPECT_TRUE(copy == base);
    std::map<int, std::string> expected_before = AsStd(base);
    std::map<int, std::string> changed = expected_before;
    for (int n = 0; n < 1 + round; ++n) {
      const int key = static_cast<int>(rng() % 10010);
      if (rng() % 3 == 0) {
        copy.erase(key);
        changed.erase(key);
      } else {
        copy.Set(key, "w" + std::to_string(n));
        changed[key] = "w" + std::to_string(n);
      }
    }
    EXPECT_EQ(AsStd(base), expected_before) << "a write to a copy showed in its source";
    EXPECT_EQ(AsStd(copy), changed);
    std::map<int, std::pair<std::string, std::string>> reported;
    Map::Diff(base, copy, [&](int k, const std::string* b, const std::string* a) {
      EXPECT_TRUE(reported.emplace(k, std::make_pair(b ? *b : "-", a ? *a : "-")).second);
      return true;
    });
    std::map<int, std::pair<std::string, std::string>> truth;
    for (int k = 0; k <= 10010; ++k) {
      auto b = expected_before.find(k);
      auto a = changed.find(k);
      const std::string bv = b == expected_before.end() ? "-" : b->second;
      const std::string av = a == changed.end() ? "-" : a->second;
      if (bv != av) truth.emplace(k, std::make_pair(bv, av));
    }
    EXPECT_EQ(reported, truth);
    EXPECT_EQ(copy == base, truth.empty());
    if (round % 10 == 0) base = copy;
  }
}

TEST(CowMapTest, VersionsNameContents) {
  Map a;
  a.Set(1, "x");
  Map b = a;
  EXPECT_EQ(a.version(), b.version());
  b.Set(2, "y");
  EXPECT_NE(a.version(), b.version());
  const uint64_t before = b.version();
  b.erase(3);  // nothing to erase: no new version
  EXPECT_EQ(b.version(), before);
}

TEST(CowMapTest, HeterogeneousLookupAndErasingToEmpty) {
  CowMap<std::string, int> m;
  for (int i = 0; i < 300; ++i) m.Set("k" + std::to_string(1000 + i), i);
  EXPECT_TRUE(m.contains(std::string_view("k1005")));
  EXPECT_EQ(m.at(std::string_view("k1299")), 299);
  for (int i = 0; i < 300; ++i)
    EXPECT_EQ(m.erase(std::string_view("k" + std::to_string(1000 + i))), 1u);
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.begin() == m.end());
}

}  // namespace
}  // namespace privlink::control
