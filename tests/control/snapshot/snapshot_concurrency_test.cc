// Snapshot publication under concurrent readers: readers never see a half-built snapshot, and old
// snapshots are freed once, and only once, every reader has moved past them. Runs under TSan
// (suite 'concurrency') and ASan (suite 'unit'), which catch a reader touching a freed snapshot.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/snapshot/snapshot_publisher.h"

namespace privlink::control {
namespace {

constexpr int kPayloadSize = 256;

// A snapshot whose every part says `generation`, with a service entry that counts its release.
std::unique_ptr<Snapshot> MakeSnapshot(uint64_t generation, std::atomic<int>& freed) {
  auto s = std::make_unique<Snapshot>();
  s->generation = generation;
  s->nat_ips.assign(kPayloadSize, static_cast<Ipv4Be>(generation));
  s->networks[1] = {1, std::to_string(generation), "consumer0", 0};
  auto* service = new SnapshotService();
  service->name = std::to_string(generation);
  s->services.push_back(
      std::shared_ptr<const SnapshotService>(service, [&freed](const SnapshotService* p) {
        freed.fetch_add(1, std::memory_order_relaxed);
        delete p;
      }));
  return s;
}

// True when every part of `s` agrees with its generation.
bool Consistent(const Snapshot& s) {
  if (s.generation == 0) return true;  // the publisher's initial empty snapshot
  if (s.nat_ips.size() != kPayloadSize || s.services.size() != 1) return false;
  for (Ipv4Be v : s.nat_ips) {
    if (v != static_cast<Ipv4Be>(s.generation)) return false;
  }
  const std::string expected = std::to_string(s.generation);
  auto it = s.networks.find(1);
  return it != s.networks.end() && it->second.name == expected && s.services[0]->name == expected;
}

TEST(SnapshotPublisherTest, ReadersNeverSeeHalfBuiltSnapshotsAndOldOnesAreFreed) {
  constexpr int kReaders = 3;
  constexpr uint64_t kPublishes = 3000;
  std::atomic<int> freed{0};
  {
    SnapshotPublisher publisher(kReaders);
    std::vector<SnapshotReader> readers;
    for (unsigned id = 0; id < kReaders; ++id) {
      auto reader = publisher.RegisterReader(id);
      ASSERT_TRUE(reader.ok());
      readers.push_back(*reader);
    }
    std::atomic<bool> stop{false};
    std::atomic<int> inconsistent{0};
    std::atomic<int> went_backwards{0};
    std::atomic<uint64_t> reads{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kReaders; ++i) {
      threads.emplace_back([&, i] {
        SnapshotReader& reader = readers[i];
        uint64_t last = 0;
        uint64_t local_reads = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          const Snapshot* s = reader.Current();
          if (!Consistent(*s)) inconsistent.fetch_add(1);
          if (s->generation < last) went_backwards.fetch_add(1);
          last = s->generation;
          ++local_reads;
          reader.Quiescent();
        }
        reads.fetch_add(local_reads);
        reader.Offline();
      });
    }
    for (uint64_t g = 1; g <= kPublishes; ++g) {
      publisher.Publish(MakeSnapshot(g, freed));
      if (g % 16 == 0) std::this_thread::yield();
    }
    // Let the readers catch up with the last publication, then stop them.
    while (publisher.Reclaim() != 0) std::this_thread::yield();
    stop.store(true);
    for (auto& t : threads) t.join();
    for (auto& reader : readers) publisher.UnregisterReader(reader);

    EXPECT_EQ(inconsistent.load(), 0);
    EXPECT_EQ(went_backwards.load(), 0);
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(publisher.latest()->generation, kPublishes);
    // Everything but the current snapshot is already gone.
    EXPECT_EQ(publisher.Reclaim(), 0u);
    EXPECT_EQ(freed.load(), static_cast<int>(kPublishes - 1));
  }
  EXPECT_EQ(freed.load(), static_cast<int>(kPublishes));
}

TEST(SnapshotPublisherTest, OldSnapshotLivesUntilEveryOnlineReaderIsQuiescent) {
  std::atomic<int> freed{0};
  SnapshotPublisher publisher(2);
  auto a = publisher.RegisterReader(0);
  auto b = publisher.RegisterReader(1);
  ASSERT_TRUE(a.ok() && b.ok());
  publisher.Publish(MakeSnapshot(1, freed));
  a->Quiescent();
  b->Quiescent();
  ASSERT_EQ(publisher.Reclaim(), 0u);

  const Snapshot* held = a->Current();  // reader a is in the middle of a burst
  ASSERT_EQ(held->generation, 1u);
  publisher.Publish(MakeSnapshot(2, freed));
  EXPECT_EQ(publisher.Reclaim(), 1u);
  b->Quiescent();
  EXPECT_EQ(publisher.Reclaim(), 1u);  // still held by a
  EXPECT_EQ(freed.load(), 0);
  EXPECT_TRUE(Consistent(*held));
  a->Quiescent();
  EXPECT_EQ(publisher.Reclaim(), 0u);
  EXPECT_EQ(freed.load(), 1);
  EXPECT_EQ(a->Current()->generation, 2u);

  // An offline reader (a sleeping worker) holds nothing back.
  b->Offline();
  publisher.Publish(MakeSnapshot(3, freed));
  a->Quiescent();
  EXPECT_EQ(publisher.Reclaim(), 0u);
  EXPECT_EQ(freed.load(), 2);
  b->Online();
  EXPECT_EQ(b->Current()->generation, 3u);
  publisher.UnregisterReader(*a);
  publisher.UnregisterReader(*b);
}

TEST(SnapshotPublisherTest, StartsWithAnEmptySnapshotAndChecksReaderIds) {
  SnapshotPublisher publisher(2);
  ASSERT_NE(publisher.latest(), nullptr);
  EXPECT_EQ(publisher.latest()->generation, 0u);
  EXPECT_EQ(publisher.RegisterReader(2).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace privlink::control
