// QsbrPublisher<T> on its own (the snapshot publisher and the dataplane's view are both one): a
// retired value lives exactly as long as some online reader may still hold it, offline readers
// never hold up reclamation, readers coming back online see the latest value, reader ids are
// checked, and under concurrent readers a value is freed once and never while read (TSan in suite
// 'concurrency', ASan in 'unit').
#include "control/snapshot/qsbr_publisher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace privlink::control {
namespace {

// A value that counts its own destruction and carries a check word readers verify.
struct Tracked {
  Tracked(int v, std::atomic<int>* freed) : value(v), check(~v), freed(freed) {}
  ~Tracked() { freed->fetch_add(1, std::memory_order_relaxed); }
  int value;
  int check;
  std::atomic<int>* freed;
};

using Publisher = QsbrPublisher<Tracked>;

TEST(QsbrPublisherTest, RetiredValueLivesUntilEveryOnlineReaderPassedQuiescence) {
  std::atomic<int> freed{0};
  Publisher publisher(2, std::make_unique<Tracked>(0, &freed));
  auto a = publisher.RegisterReader(0);
  auto b = publisher.RegisterReader(1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Current()->value, 0);

  publisher.Publish(std::make_unique<Tracked>(1, &freed));
  EXPECT_EQ(freed.load(), 0) << "freed while both readers may hold it";
  EXPECT_EQ(publisher.Reclaim(), 1u);

  a->Quiescent();
  EXPECT_EQ(publisher.Reclaim(), 1u) << "reader b has not reported yet";
  EXPECT_EQ(freed.load(), 0);

  b->Quiescent();
  EXPECT_EQ(publisher.Reclaim(), 0u);
  EXPECT_EQ(freed.load(), 1);
  EXPECT_EQ(a->Current()->value, 1);
  EXPECT_EQ(publisher.latest()->value, 1);

  publisher.UnregisterReader(*a);
  publisher.UnregisterReader(*b);
}

TEST(QsbrPublisherTest, OfflineReaderDoesNotHoldUpReclamationAndSeesLatestWhenBack) {
  std::atomic<int> freed{0};
  Publisher publisher(1, std::make_unique<Tracked>(0, &freed));
  auto reader = publisher.RegisterReader(0);
  ASSERT_TRUE(reader.ok());
  reader->Offline();
  for (int v = 1; v <= 5; ++v) publisher.Publish(std::make_unique<Tracked>(v, &freed));
  EXPECT_EQ(publisher.Reclaim(), 0u);
  EXPECT_EQ(freed.load(), 5);
  reader->Online();
  EXPECT_EQ(reader->Current()->value, 5);
  publisher.UnregisterReader(*reader);
}

TEST(QsbrPublisherTest, ReaderIdsAreChecked) {
  std::atomic<int> freed{0};
  Publisher publisher(2, std::make_unique<Tracked>(0, &freed));
  auto bad = publisher.RegisterReader(2);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("out of range"), std::string_view::npos)
      << bad.status().message();
}

TEST(QsbrPublisherTest, ConcurrentReadersNeverSeeAFreedValue) {
  constexpr unsigned kReaders = 3;
  constexpr int kPublishes = 2000;
  std::atomic<int> freed{0};
  {
    Publisher publisher(kReaders, std::make_unique<Tracked>(0, &freed));
    std::vector<QsbrReader<Tracked>> readers;
    for (unsigned id = 0; id < kReaders; ++id) {
      auto reader = publisher.RegisterReader(id);
      ASSERT_TRUE(reader.ok());
      readers.push_back(*reader);
    }
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (auto& reader : readers) {
      threads.emplace_back([&reader, &stop, &bad] {
        int last = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          const Tracked* t = reader.Current();
          // A freed value would fail the check word (and ASan/TSan would report the read).
          if (t->check != ~t->value || t->value < last) bad.fetch_add(1);
          last = t->value;
          reader.Quiescent();
        }
      });
    }
    for (int v = 1; v <= kPublishes; ++v) publisher.Publish(std::make_unique<Tracked>(v, &freed));
    stop.store(true);
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad.load(), 0);
    for (auto& reader : readers) reader.Quiescent();
    EXPECT_EQ(publisher.Reclaim(), 0u);
    EXPECT_EQ(freed.load(), kPublishes) << "every replaced value freed exactly once";
    for (auto& reader : readers) publisher.UnregisterReader(reader);
  }
  EXPECT_EQ(freed.load(), kPublishes + 1);  // and the last one with the publisher
}

}  // namespace
}  // namespace privlink::control
