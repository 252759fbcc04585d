// privlink-replay's pcap reader and writer (tools/replay/pcap_io.h) against pcaps written and read
// by hand, and the real binary ($PRIVLINK_REPLAY): two inputs merged by time, outputs and drops
// written with the send times, byte-identical on a second run; bad input (files, records, link
// types, config, outputs) ends with one line naming the file and the fault and exit 1, usage
// errors with exit 2.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control/framework/process_util.h"
#include "tests/dataplane/framework/replay_test_util.h"
#include "tools/replay/pcap_io.h"

namespace privlink::dataplane::testing {
namespace {

using control::testing::ProcessResult;
using control::testing::Slurp;
using ::testing::HasSubstr;
using tools::PcapReader;
using tools::PcapRecord;
using tools::PcapWriter;

class ReplayToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/privlink-replay-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::filesystem::create_directory(dir_ + "/run");
    std::ofstream(Path("config.json")) << ReplayTestConfig().dump(2);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void WriteFile(const std::string& name, const std::string& bytes) {
    std::ofstream(Path(name), std::ios::binary) << bytes;
  }
  ProcessResult Run(std::vector<std::string> args) {
    const std::string binary = control::testing::BinaryFromEnv("PRIVLINK_REPLAY");
    EXPECT_FALSE(binary.empty()) << "set PRIVLINK_REPLAY to the privlink-replay binary";
    args.insert(args.begin(), binary);
    return control::testing::RunProcess(args, dir_ + "/run");
  }

  std::string dir_;
};

// ---- the reader and writer ----

TEST_F(ReplayToolTest, ReadsMicrosecondAndNanosecondFilesAsMicroseconds) {
  const auto syn = FromClient(nat::kTcpSyn, 1000, 0);
  WriteFile("us.pcap", PcapBytes({{kT0 + 7, syn}}));
  WriteFile("ns.pcap", PcapBytes({{kT0 * 1000 + 250'999, syn}}, kMagicNano));
  for (const auto& [name, want] : {std::pair{"us.pcap", kT0 + 7}, {"ns.pcap", kT0 + 250}}) {
    SCOPED_TRACE(name);
    auto reader = PcapReader::Open(Path(name));
    ASSERT_TRUE(reader.ok()) << reader.status();
    PcapRecord record;
    auto next = (*reader)->Next(record);
    ASSERT_TRUE(next.ok() && *next) << next.status();
    EXPECT_EQ(record.time_us, want);
    EXPECT_EQ(std::vector<uint8_t>(record.frame.begin(), record.frame.end()), syn);
    EXPECT_EQ(record.wire_len, syn.size());
    next = (*reader)->Next(record);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_FALSE(*next);
    EXPECT_EQ((*reader)->records(), 1u);
  }
}

TEST_F(ReplayToolTest, ReaderNamesTheFileAndTheFault) {
  const auto syn = FromClient(nat::kTcpSyn, 1000, 0);
  WriteFile("text.pcap", "this is not a capture\n");
  WriteFile("header-only.pcap", PcapBytes({}).substr(0, 10));
  WriteFile("sll.pcap", PcapBytes({{kT0, syn}}, kMagicMicro, 113));  // tcpdump -i any
  std::string truncated = PcapBytes({{kT0, syn}, {kT0 + 1, syn}});
  truncated.resize(truncated.size() - 10);
  WriteFile("truncated.pcap", truncated);
  std::string cut_header = PcapBytes({{kT0, syn}, {kT0 + 1, syn}});
  cut_header.resize(24 + 16 + syn.size() + 8);  // inside the second record's header
  WriteFile("cut-header.pcap", cut_header);

  const std::vector<std::pair<std::string, std::vector<std::string>>> open_errors = {
      {"absent.pcap", {"absent.pcap: ", "No such file"}},
      {"text.pcap", {"text.pcap: ", "not a pcap file"}},
      {"header-only.pcap", {"header-only.pcap: ", "not a pcap file"}},
      {"sll.pcap", {"sll.pcap: ", "LINUX_SLL", "not Ethernet"}},
      {"run", {"run: ", "not a regular file"}},
  };
  for (const auto& [name, expected] : open_errors) {
    SCOPED_TRACE(name);
    auto reader = PcapReader::Open(Path(name));
    ASSERT_FALSE(reader.ok());
    for (const std::string& e : expected) EXPECT_THAT(reader.status().message(), HasSubstr(e));
  }
  for (const char* name : {"truncated.pcap", "cut-header.pcap"}) {
    SCOPED_TRACE(name);
    auto reader = PcapReader::Open(Path(name));
    ASSERT_TRUE(reader.ok()) << reader.status();
    PcapRecord record;
    auto first = (*reader)->Next(record);
    ASSERT_TRUE(first.ok() && *first) << first.status();
    auto second = (*reader)->Next(record);
    ASSERT_FALSE(second.ok());
    EXPECT_THAT(second.status().message(), HasSubstr(std::string(name) + ": record 2: "));
    EXPECT_THAT(second.status().message(), HasSubstr("truncated"));
  }
}

TEST_F(ReplayToolTest, WriterWritesMicrosecondEthernetPcaps) {
  const auto a = FromClient(nat::kTcpSyn, 1, 0);
  const auto b = ArpRequest(kPe);
  auto writer = PcapWriter::Create(Path("out.pcap"));
  ASSERT_TRUE(writer.ok()) << writer.status();
  (*writer)->Write(a, kT0 + 1);
  (*writer)->Write(b, kT0 + 2'000'003);
  ASSERT_TRUE((*writer)->Close().ok());
  const auto records = ParsePcap(Slurp(Path("out.pcap")));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].time, kT0 + 1);
  EXPECT_EQ(records[0].bytes, a);
  EXPECT_EQ(records[1].time, kT0 + 2'000'003);
  EXPECT_EQ(records[1].bytes, b);

  auto nowhere = PcapWriter::Create(Path("no/such/dir/out.pcap"));
  ASSERT_FALSE(nowhere.ok());
  EXPECT_THAT(nowhere.status().message(), HasSubstr("no/such/dir/out.pcap: cannot write"));
}

// ---- the binary ----

TEST_F(ReplayToolTest, ReplaysTwoInputsAndWritesTheSameBytesEveryTime) {
  using namespace nat;
  const auto syn = FromClient(kTcpSyn, 1000, 0);
  const auto stray = FromClient(kTcpAck, 5, 5, 0, {}, 7);  // no flow
  // A nanosecond consumer trace and a microsecond provider trace, interleaved in time.
  WriteFile("consumer.pcap",
            PcapBytes({{kT0 * 1000 + 250'999, syn}, {(kT0 + 3'000) * 1000, stray}}, kMagicNano));
  const auto who_has_nat_ip =
      BuildArpFrame({.eth = {.dst = kBroadcastMac, .src = BackendMac(kBackends[0])},
                     .arp = {.sender_mac = BackendMac(kBackends[0]),
                             .sender_ip = kBackends[0],
                             .target_ip = kNatIps[0]}})
          .PadToMinimum()
          .bytes;
  WriteFile("provider.pcap", PcapBytes({{kT0 + 1'000, who_has_nat_ip}}));

  std::string first_summary;
  for (const std::string run : {"a", "b"}) {
    const ProcessResult r =
        Run({"--config", Path("config.json"), "--consumer-in", Path("consumer.pcap"),
             "--provider-in", Path("provider.pcap"), "--consumer-out", Path(run + "-c.pcap"),
             "--provider-out", Path(run + "-p.pcap"), "--drops", Path(run + "-d.pcap")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    if (first_summary.empty()) first_summary = r.out;
  }
  for (const char* side : {"c", "p", "d"}) {
    EXPECT_EQ(Slurp(Path(std::string("a-") + side + ".pcap")),
              Slurp(Path(std::string("b-") + side + ".pcap")))
        << side;
  }

  // Provider side: two announcements at the start, the SYN, the answer to the backend's ARP.
  const auto provider = ParsePcap(Slurp(Path("a-p.pcap")));
  ASSERT_EQ(provider.size(), 4u);
  EXPECT_EQ(provider[0].time, kT0 + 250);
  ASSERT_TRUE(IsTcp(provider[2].bytes));
  EXPECT_EQ(provider[2].time, kT0 + 250);
  EXPECT_EQ(ParseTcp(provider[2].bytes).dport, 8080);
  EXPECT_EQ(Be16At(provider[3].bytes, 20), kArpOpReply);
  EXPECT_EQ(DstMac(provider[3].bytes), BackendMac(kBackends[0]));
  EXPECT_EQ(provider[3].time, kT0 + 1'000);
  EXPECT_TRUE(ParsePcap(Slurp(Path("a-c.pcap"))).empty());
  const auto drops = ParsePcap(Slurp(Path("a-d.pcap")));
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].bytes, stray);
  EXPECT_EQ(drops[0].time, kT0 + 3'000);

  EXPECT_THAT(first_summary, HasSubstr("1 created, 0 expired, 1 live"));
  EXPECT_THAT(first_summary, HasSubstr("translated   1 packets (1 towards providers, 0 towards"));
  EXPECT_THAT(first_summary, HasSubstr("drops        1\n  no_flow_not_syn"));
  EXPECT_THAT(first_summary, HasSubstr("consumer.pcap"));
  EXPECT_THAT(first_summary, HasSubstr("cycles/pkt"));
}

TEST_F(ReplayToolTest, BadInputEndsWithOneLineAndExit1) {
  const auto syn = FromClient(nat::kTcpSyn, 1000, 0);
  WriteFile("good.pcap", PcapBytes({{kT0, syn}}));
  std::string truncated = PcapBytes({{kT0, syn}, {kT0 + 1, syn}});
  truncated.resize(truncated.size() - 10);
  WriteFile("truncated.pcap", truncated);
  WriteFile("broken.json", "{\"dataplane\": {");

  struct Case {
    std::string name, config, input, output;
    std::vector<std::string> expected;  // in the one line
    std::vector<std::string> extra = {};
  };
  const std::vector<Case> cases = {
      // Found before DPDK starts.
      {"missing input", "config.json", "absent.pcap", "o.pcap", {"absent.pcap: No such file"}},
      {"broken config", "broken.json", "good.pcap", "o.pcap", {"broken.json"}},
      {"output not writable", "config.json", "good.pcap", "no/dir/o.pcap", {"cannot write"}},
      {"port of the wrong role",
       "config.json",
       "good.pcap",
       "o.pcap",
       {"config.json: port 'provider0' is not a consumer port"},
       {"--consumer-port", "provider0"}},
      // Found while replaying, after the records before it.
      {"truncated record",
       "config.json",
       "truncated.pcap",
       "o.pcap",
       {"truncated.pcap: record 2: ", "truncated"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> args = {"--config",       Path(c.config),   "--consumer-in",
                                     Path(c.input),    "--consumer-out", Path(c.output),
                                     "--provider-out", Path("p.pcap")};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("privlink-replay: "));
    for (const std::string& e : c.expected) EXPECT_THAT(r.err, HasSubstr(e));
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(ReplayToolTest, UsageErrorsExit2) {
  const ProcessResult missing = Run({"--config", Path("config.json")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--consumer-in is required"));
  const ProcessResult help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--provider-in"));
}

}  // namespace
}  // namespace privlink::dataplane::testing
