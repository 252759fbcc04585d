// privlink-tracegen and privlink-replay together, the real binaries: a generated trace replays
// with every connection translated and nothing dropped, whatever the close mode; the same options
// give byte-identical pcaps.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/framework/process_util.h"

namespace privlink::trace {
namespace {

using ::testing::HasSubstr;
using namespace privlink::control::testing;

class TracegenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tracegen_ = BinaryFromEnv("PRIVLINK_TRACEGEN");
    replay_ = BinaryFromEnv("PRIVLINK_REPLAY");
    config_ = BinaryFromEnv("PRIVLINK_DEMO_CONFIG");
    ASSERT_FALSE(tracegen_.empty() || replay_.empty() || config_.empty())
        << "set PRIVLINK_TRACEGEN, PRIVLINK_REPLAY and PRIVLINK_DEMO_CONFIG";
    char dir[] = "/tmp/privlink-tracegen-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProcessResult Generate(const std::string& tag, const std::string& close) {
    return RunProcess(
        {tracegen_, "--config", config_, "--consumer-out", dir_ + "/" + tag + "-c.pcap",
         "--provider-out", dir_ + "/" + tag + "-p.pcap", "--clients", "25", "--connections", "4",
         "--response-bytes", "5000", "--close", close},
        dir_);
  }

  std::string tracegen_, replay_, config_, dir_;
};

TEST_F(TracegenTest, GeneratedTracesReplayWithEveryConnectionTranslated) {
  for (const std::string close : {"fin", "rst", "mixed"}) {
    SCOPED_TRACE(close);
    const ProcessResult gen = Generate(close, close);
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    EXPECT_THAT(gen.out, HasSubstr("connections 100 (refused by the dataplane 0)"));
    const ProcessResult replay =
        RunProcess({replay_, "--config", config_, "--consumer-in", dir_ + "/" + close + "-c.pcap",
                    "--provider-in", dir_ + "/" + close + "-p.pcap", "--consumer-out",
                    dir_ + "/co.pcap", "--provider-out", dir_ + "/po.pcap"},
                   dir_);
    ASSERT_EQ(replay.exit_code, 0) << replay.err;
    EXPECT_THAT(replay.out, HasSubstr("flows        100 created"));
    EXPECT_THAT(replay.out, HasSubstr("drops        0\n"));
  }
}

TEST_F(TracegenTest, SameOptionsSameBytes) {
  ASSERT_EQ(Generate("a", "mixed").exit_code, 0);
  ASSERT_EQ(Generate("b", "mixed").exit_code, 0);
  for (const char* side : {"-c.pcap", "-p.pcap"}) {
    const std::string a = Slurp(dir_ + "/a" + side);
    EXPECT_GT(a.size(), 10000u);
    EXPECT_EQ(a, Slurp(dir_ + "/b" + side)) << side;
  }
}

TEST_F(TracegenTest, BadInputIsRefusedClearly) {
  const ProcessResult missing =
      RunProcess({tracegen_, "--config", dir_ + "/none.json", "--consumer-out", dir_ + "/c",
                  "--provider-out", dir_ + "/p"},
                 dir_);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.json"));
  const ProcessResult no_pe =
      RunProcess({tracegen_, "--config", config_, "--endpoint", "nope", "--consumer-out",
                  dir_ + "/c", "--provider-out", dir_ + "/p"},
                 dir_);
  EXPECT_EQ(no_pe.exit_code, 1);
  EXPECT_THAT(no_pe.err, HasSubstr("no private endpoint 'nope'"));
  const ProcessResult usage = RunProcess({tracegen_, "--close", "maybe"}, dir_);
  EXPECT_EQ(usage.exit_code, 2);
}

}  // namespace
}  // namespace privlink::trace
