#include "nat/flow_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "tests/nat/flow_test_util.h"

namespace privlink::nat {
namespace {

using testing::MakeBinding;

std::unique_ptr<FlowTable> MakeTable(uint32_t capacity, uint32_t workers = 1) {
  auto t = FlowTable::Create({.capacity = capacity, .worker_count = workers});
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

TEST(FlowTable, RejectsBadConfig) {
  EXPECT_EQ(FlowTable::Create({.capacity = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlowTable::Create({.capacity = kMaxFlowCapacity + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlowTable::Create({.capacity = 10, .worker_count = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlowTable::Create({.capacity = 10, .worker_count = 256}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlowTable::Create({.capacity = 3, .worker_count = 4}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlowTable, FindsBothKeysOfAFlow) {
  auto t = MakeTable(1024);
  const FlowBinding b = MakeBinding(7);
  auto id = t->Insert(0, b, 1000);
  ASSERT_TRUE(id.ok()) << SetupFailureName(id.failure);
  const FlowRef f = t->Lookup(b.fwd);
  const FlowRef r = t->Lookup(b.rev);
  ASSERT_TRUE(f.found());
  ASSERT_TRUE(r.found());
  EXPECT_EQ(f.id, *id);
  EXPECT_EQ(r.id, *id);
  EXPECT_EQ(f.dir, FlowDirection::kIn2Out);
  EXPECT_EQ(r.dir, FlowDirection::kOut2In);
  const FlowEntry& e = t->entry(*id);
  EXPECT_EQ(e.binding.fwd, b.fwd);
  EXPECT_EQ(e.binding.rev, b.rev);
  EXPECT_EQ(e.binding.endpoint_id, 7u);
  EXPECT_EQ(e.state(), FlowState::kSynSent);
  EXPECT_EQ(e.last_seen_ms.load(), 1000u);
  EXPECT_EQ(t->Size(), 1u);
  EXPECT_FALSE(t->Lookup(MakeBinding(8).fwd).found());
}

TEST(FlowTable, OverlappingNetworksAreDistinctFlows) {
  auto t = MakeTable(16);
  FlowBinding a = MakeBinding(1, /*network=*/1);
  FlowBinding b = MakeBinding(1, /*network=*/2);
  ASSERT_EQ(a.fwd.tuple.src_ip, b.fwd.tuple.src_ip);  // identical client tuple
  ASSERT_TRUE(t->Insert(0, a, 0).ok());
  ASSERT_TRUE(t->Insert(0, b, 0).ok());
  EXPECT_NE(t->Lookup(a.fwd).id, t->Lookup(b.fwd).id);
}

TEST(FlowTable, DuplicateKeyIsRefusedAndLeavesNothingBehind) {
  auto t = MakeTable(16);
  const FlowBinding a = MakeBinding(1);
  ASSERT_TRUE(t->Insert(0, a, 0).ok());
  FlowBinding same_fwd = MakeBinding(2);
  same_fwd.fwd = a.fwd;
  EXPECT_EQ(t->Insert(0, same_fwd, 0).failure, SetupFailure::kFlowKeyExists);
  EXPECT_FALSE(t->Lookup(same_fwd.rev).found());
  FlowBinding same_rev = MakeBinding(3);
  same_rev.rev = a.rev;
  EXPECT_EQ(t->Insert(0, same_rev, 0).failure, SetupFailure::kFlowKeyExists);
  EXPECT_FALSE(t->Lookup(same_rev.fwd).found()) << "forward key rolled back";
  EXPECT_EQ(t->Size(), 1u);
  EXPECT_EQ(t->Lookup(a.fwd).dir, FlowDirection::kIn2Out);
}

TEST(FlowTable, FullTableRefusesThenReclaimsSpace) {
  constexpr uint32_t kCap = 1000;
  auto t = MakeTable(kCap);
  std::vector<FlowId> ids;
  for (uint32_t i = 0; i < kCap; ++i) {
    auto id = t->Insert(0, MakeBinding(i), 0);
    ASSERT_TRUE(id.ok()) << i << ": " << SetupFailureName(id.failure);
    ids.push_back(*id);
  }
  auto over = t->Insert(0, MakeBinding(kCap), 0);
  EXPECT_EQ(over.failure, SetupFailure::kFlowTableFull);
  for (uint32_t i = 0; i < kCap; ++i) ASSERT_TRUE(t->Lookup(MakeBinding(i).rev).found()) << i;
  t->Remove(0, ids[10]);
  t->Remove(0, ids[10]);  // a second remove of the same flow changes nothing
  EXPECT_EQ(t->Size(), kCap - 1);
  EXPECT_FALSE(t->Lookup(MakeBinding(10).fwd).found());
  EXPECT_FALSE(t->Lookup(MakeBinding(10).rev).found());
  t->Reclaim(0);
  auto again = t->Insert(0, MakeBinding(kCap), 0);
  ASSERT_TRUE(again.ok()) << SetupFailureName(again.failure);
  EXPECT_EQ(*again, ids[10]) << "the freed id is reused";
  EXPECT_EQ(t->Insert(0, MakeBinding(kCap + 1), 0).failure, SetupFailure::kFlowTableFull);
}

TEST(FlowTable, FillsToCapacityWithRandomKeys) {
  // Sized for 80% slot load at capacity: two-choice placement must fit every random key.
  constexpr uint32_t kCap = 200'000;
  auto t = MakeTable(kCap);
  std::mt19937 rng(42);
  std::vector<FlowBinding> flows(kCap);
  for (uint32_t i = 0; i < kCap; ++i) {
    FlowBinding& b = flows[i];
    b.fwd =
        FlowKey{static_cast<Ipv4Be>(rng()), static_cast<Ipv4Be>(rng()), static_cast<PortBe>(rng()),
                static_cast<PortBe>(rng()), static_cast<NetworkId>(rng() % 100)};
    b.rev = FlowKey{static_cast<Ipv4Be>(rng()), static_cast<Ipv4Be>(rng()),
                    static_cast<PortBe>(rng()), static_cast<PortBe>(rng()), kProviderNetwork};
    ASSERT_TRUE(t->Insert(0, b, 0).ok()) << "insert " << i << " failed";
  }
  for (uint32_t i = 0; i < kCap; i += 97) {
    EXPECT_TRUE(t->Lookup(flows[i].fwd).found());
    EXPECT_TRUE(t->Lookup(flows[i].rev).found());
  }
}

TEST(FlowTable, FillsToCapacityWithSequentialClientTuples) {
  // Real tuples differ in few bits (clients of one subnet, sequential ports, one PE); the hash
  // must still spread them, or buckets overflow long before capacity.
  constexpr uint32_t kCap = 1 << 20;
  auto t = MakeTable(kCap);
  for (uint32_t i = 0; i < kCap; ++i) {
    FlowBinding b;
    b.fwd = FlowKey{HostToBe32(0x0a000000u + (i >> 15)), Ipv4(10, 0, 0, 100),
                    HostToBe16(static_cast<uint16_t>(1024 + (i & 0x7fff))), HostToBe16(80), 1};
    b.rev = FlowKey{HostToBe32(0xc0a80a0bu + (i % 3)), HostToBe32(0xc0a80ac8u + ((i >> 16) & 7)),
                    HostToBe16(8080), HostToBe16(static_cast<uint16_t>(1024 + (i & 0xffff))),
                    kProviderNetwork};
    ASSERT_TRUE(t->Insert(0, b, 0).ok()) << "insert " << i << " failed";
  }
}

TEST(FlowTable, MemoryPerFlowIsWithinBudget) {
  for (uint32_t cap : {1024u, 1u << 20}) {
    auto t = MakeTable(cap);
    const double per_flow = static_cast<double>(t->MemoryBytes()) / cap;
    EXPECT_LE(per_flow, 128.0) << "capacity " << cap;
    std::printf("capacity %u: %.1f bytes per flow (entries %zu B, buckets %u)\n", cap, per_flow,
                sizeof(FlowEntry), t->bucket_count());
  }
}

TEST(FlowTable, BulkLookupAgreesWithSingleLookup) {
  auto t = MakeTable(4096);
  for (uint32_t i = 0; i < 2000; i += 2) ASSERT_TRUE(t->Insert(0, MakeBinding(i), 0).ok());
  for (uint32_t n : {1u, 7u, 32u, 64u}) {
    std::vector<FlowKey> keys;
    for (uint32_t i = 0; i < n; ++i) {
      const FlowBinding b = MakeBinding(i * 3);
      keys.push_back(i % 2 ? b.rev : b.fwd);
    }
    std::vector<FlowLookup> out(n);
    const uint64_t mask = t->LookupBulk(keys, out.data());
    for (uint32_t i = 0; i < n; ++i) {
      const FlowRef single = t->Lookup(keys[i]);
      EXPECT_EQ(out[i].ref.id, single.id) << n << "/" << i;
      EXPECT_EQ(out[i].ref.dir, single.dir);
      EXPECT_EQ(out[i].hash, HashFlowKey(keys[i])) << "the hash a miss takes on to flow setup";
      EXPECT_EQ(((mask >> i) & 1) != 0, single.found());
      EXPECT_EQ(single.found(), (i * 3) % 2 == 0);
    }
  }
}

TEST(FlowTable, WorkersOwnDisjointShards) {
  auto t = MakeTable(10, /*workers=*/3);
  std::vector<FlowId> w1;
  for (uint32_t i = 0;; ++i) {
    auto id = t->Insert(1, MakeBinding(i), 0);
    if (!id.ok()) {
      EXPECT_EQ(id.failure, SetupFailure::kFlowTableFull);
      break;
    }
    EXPECT_GE(*id, t->ShardBegin(1));
    w1.push_back(*id);
  }
  EXPECT_EQ(w1.size(), 3u);  // 10 flows over 3 workers: 4, 3, 3
  EXPECT_TRUE(t->Insert(0, MakeBinding(100), 0).ok()) << "worker 0 is unaffected";
  EXPECT_EQ(t->ShardSize(1), 3u);
  EXPECT_EQ(t->Size(), 4u);
}

TEST(FlowTable, RemovedIdWaitsForReadersQuiescence) {
  const size_t sz = rte_rcu_qsbr_get_memsize(2);
  auto* rcu = static_cast<rte_rcu_qsbr*>(aligned_alloc(RTE_CACHE_LINE_SIZE, sz));
  ASSERT_EQ(rte_rcu_qsbr_init(rcu, 2), 0);
  ASSERT_EQ(rte_rcu_qsbr_thread_register(rcu, 1), 0);
  rte_rcu_qsbr_thread_online(rcu, 1);
  auto t = FlowTable::Create({.capacity = 1, .worker_count = 1, .rcu = rcu});
  ASSERT_TRUE(t.ok());
  auto id = (*t)->Insert(0, MakeBinding(1), 0);
  ASSERT_TRUE(id.ok());
  (*t)->Remove(0, *id);
  (*t)->Reclaim(0);  // starts the grace period; reader 1 has not been quiescent since
  (*t)->Reclaim(0);
  EXPECT_EQ((*t)->Insert(0, MakeBinding(2), 0).failure, SetupFailure::kFlowTableFull)
      << "id must not be reused while a reader may still hold it";
  rte_rcu_qsbr_quiescent(rcu, 1);
  (*t)->Reclaim(0);
  EXPECT_TRUE((*t)->Insert(0, MakeBinding(2), 0).ok());
  t->reset();
  rte_rcu_qsbr_thread_offline(rcu, 1);
  free(rcu);
}

}  // namespace
}  // namespace privlink::nat
