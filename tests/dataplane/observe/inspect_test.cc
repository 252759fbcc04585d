// Observability on the real packet path (tests/dataplane/worker_harness.h): flows listed by the
// API's lock-free reader with their tuples, state and bytes; packet capture of rx, tx and drops
// into pcapng; the connection audit log's start and end lines.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dataplane/observe/audit_log.h"
#include "dataplane/observe/capture.h"
#include "dataplane/observe/flow_inspect.h"
#include "tests/dataplane/framework/forward_frames.h"
#include "tests/dataplane/framework/pcapng_reader.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;
using nat::FlowDirection;

struct Opened {
  Ipv4Be backend = 0;
  NatTuple nat;
  uint64_t bytes_out = 0;  // frame bytes as received from each side
  uint64_t bytes_in = 0;
};

class InspectTest : public ::testing::Test {
 protected:
  void TearDown() override { DrainAndCheckNoLeak(h_); }

  // SYN, SYN-ACK, ACK and one data segment each way through the worker.
  Opened Establish(const Net& net, uint16_t client_port) {
    Opened f;
    const TcpFrameSpec syn = FromClient(net, Tcp(kTcpSyn, 1000, 0, 0, client_port));
    f.backend = MaglevBackend(h_, net, syn);
    auto send = [&](uint16_t port, const TcpFrameSpec& spec, uint64_t& bytes) {
      const Frame frame = BuildTcpFrame(spec);
      bytes += frame.bytes.size();
      h_.Inject(port, frame);
      h_.Poll();
    };
    send(net.port, syn, f.bytes_out);
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return f;
    f.nat = ReadNat(sent[0]);
    send(kProvider, FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 5000, 1001), f.bytes_in);
    send(net.port, FromClient(net, Tcp(kTcpAck, 1001, 5001, 0, client_port)), f.bytes_out);
    send(net.port, FromClient(net, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 100, client_port)),
         f.bytes_out);
    send(kProvider, FromBackend(f.backend, f.nat, kTcpAck | kTcpPsh, 5001, 1101, 300), f.bytes_in);
    for (uint16_t p = 0; p < kPortCount; ++p) h_.TakeSent(p);
    return f;
  }

  FlowReader Reader() { return FlowReader(h_.flows(), h_.shared().flow_rcu, kFlowReaderRcuId); }
  nat::TimeMs32 Now() { return nat::ToMs32(h_.clock().NowMs()); }

  WorkerHarness h_;
};

TEST_F(InspectTest, ListsFlowsWithBothTuplesStateAgeAndBytes) {
  const Opened a = Establish(kNetA, 40000);
  h_.clock().Advance(3000);
  const Opened b = Establish(kNetB, 40001);
  h_.clock().Advance(1000);

  const FlowList all = Reader().List({}, 10, Now());
  ASSERT_EQ(all.flows.size(), 2u);
  EXPECT_FALSE(all.truncated);
  const control::Snapshot& snap = h_.snapshot();
  const uint32_t pe_a =
      snap.FindPe({NetworkOf(h_, kNetA), HostToBe16(kFrontendPort), kPeIp})->endpoint;
  const FlowList only_a = Reader().List({.endpoint_id = pe_a}, 10, Now());
  ASSERT_EQ(only_a.flows.size(), 1u);
  const FlowRecord& r = only_a.flows[0];
  EXPECT_EQ(r.state, nat::FlowState::kEstablished);
  EXPECT_EQ(r.fwd.tuple.src_ip, kClientIp);
  EXPECT_EQ(r.fwd.tuple.src_port, HostToBe16(40000));
  EXPECT_EQ(r.rev.tuple.dst_ip, a.nat.ip);
  EXPECT_EQ(r.rev.tuple.dst_port, a.nat.port);
  EXPECT_EQ(r.rev.tuple.src_ip, a.backend);
  EXPECT_EQ(r.bytes[static_cast<size_t>(FlowDirection::kIn2Out)], a.bytes_out);
  EXPECT_EQ(r.bytes[static_cast<size_t>(FlowDirection::kOut2In)], a.bytes_in);
  EXPECT_EQ(r.packets[static_cast<size_t>(FlowDirection::kIn2Out)], 3u);
  EXPECT_EQ(r.packets[static_cast<size_t>(FlowDirection::kOut2In)], 2u);
  // Created 4 s ago (256 ms ticks), last packet 4 s ago.
  EXPECT_GE(r.age_ms, 3800u);
  EXPECT_LE(r.age_ms, 4300u);
  EXPECT_EQ(r.idle_ms, 4000u);

  const nlohmann::json j = FlowRecordJson(r, snap);
  EXPECT_EQ(j["endpoint"], kEndpointA);
  EXPECT_EQ(j["service"], kService);
  EXPECT_EQ(j["network"], "a");
  EXPECT_EQ(j["client"], "10.0.0.2:40000");
  EXPECT_EQ(j["backend"], FormatIpv4(a.backend) + ":8080");
  EXPECT_EQ(j["nat"], FormatIpv4(a.nat.ip) + ":" + std::to_string(Be16ToHost(a.nat.port)));
  EXPECT_EQ(j["bytesOut"], a.bytes_out);
  EXPECT_EQ(j["state"], nat::FlowStateName(nat::FlowState::kEstablished));

  const FlowList first = Reader().List({}, 1, Now());
  EXPECT_EQ(first.flows.size(), 1u);
  EXPECT_TRUE(first.truncated);
  const FlowCounts counts = Reader().Count({});
  EXPECT_EQ(counts[static_cast<size_t>(nat::FlowState::kEstablished)], 2u);
  EXPECT_EQ(FlowCountsJson(counts)["total"], 2u);
  EXPECT_EQ(
      Reader().Count(
          {.service_id = uint16_t{0xfff0}})[static_cast<size_t>(nat::FlowState::kEstablished)],
      0u);
  (void)b;
}

TEST_F(InspectTest, ExpiredFlowsLeaveTheListing) {
  Establish(kNetA, 40000);
  ASSERT_EQ(Reader().List({}, 10, Now()).flows.size(), 1u);
  h_.clock().Advance(nat::FlowTimeouts{}.established_ms + 1);
  h_.Poll();
  EXPECT_TRUE(Reader().List({}, 10, Now()).flows.empty());
}

class CaptureTest : public InspectTest {
 protected:
  void SetUp() override {
    auto c = PacketCapture::Create("inspect_test_capture", 0);
    ASSERT_TRUE(c.ok()) << c.status();
    capture_ = std::move(*c);
    h_.shared().capture = capture_.get();
  }
  void TearDown() override {
    h_.shared().capture = nullptr;
    InspectTest::TearDown();
  }
  CaptureOutcome Run(uint16_t port, CaptureDirection dir, uint32_t count,
                     const std::function<void()>& traffic, uint32_t snaplen = 65535) {
    EXPECT_TRUE(capture_
                    ->Arm({.port = port,
                           .port_name = "p",
                           .direction = dir,
                           .count = count,
                           .snaplen = snaplen})
                    .ok());
    traffic();
    capture_->Drain();
    EXPECT_TRUE(capture_->Wait(0));
    return capture_->Finish();
  }
  std::unique_ptr<PacketCapture> capture_;
};

TEST_F(CaptureTest, RecordsReceivedSentAndDroppedFramesWithTheReason) {
  const Frame syn = BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1000, 0, 0, 40000)));
  // rx on consumer0: the client's SYN as it arrived.
  CaptureOutcome rx = Run(kConsumer0, CaptureDirection::kRx, 1, [&] {
    h_.Inject(kConsumer0, syn);
    h_.Poll();
  });
  auto file = ReadPcapng(rx.pcapng);
  ASSERT_TRUE(file.has_value());
  ASSERT_EQ(file->packets.size(), 1u);
  EXPECT_EQ(file->packets[0].data, syn.bytes);
  EXPECT_EQ(file->packets[0].flags, 1u);  // inbound
  EXPECT_TRUE(file->packets[0].comment.empty());
  const std::vector<Bytes> translated = h_.TakeSent(kProvider);
  ASSERT_EQ(translated.size(), 1u) << "forwarding goes on while capturing";

  // tx on the provider port: the translated retransmission, truncated to the snap length.
  CaptureOutcome tx = Run(
      kProvider, CaptureDirection::kTx, 1,
      [&] {
        h_.Inject(kConsumer0, syn);
        h_.Poll();
      },
      34);
  file = ReadPcapng(tx.pcapng);
  ASSERT_TRUE(file.has_value());
  ASSERT_EQ(file->packets.size(), 1u);
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(file->packets[0].data, Bytes(sent[0].begin(), sent[0].begin() + 34));
  EXPECT_EQ(file->packets[0].original_len, sent[0].size());
  EXPECT_EQ(file->packets[0].flags, 2u);  // outbound

  // drop on consumer0: a non-SYN without a flow, with its reason; rx/tx frames are not in it.
  const Frame stray = BuildTcpFrame(FromClient(kNetA, Tcp(kTcpAck, 1, 1, 0, 41000)));
  CaptureOutcome drop = Run(kConsumer0, CaptureDirection::kDrop, 1, [&] {
    h_.Inject(kConsumer0, syn);
    h_.Inject(kConsumer0, stray);
    h_.Poll();
  });
  file = ReadPcapng(drop.pcapng);
  ASSERT_TRUE(file.has_value());
  ASSERT_EQ(file->packets.size(), 1u);
  EXPECT_EQ(file->packets[0].data, stray.bytes);
  EXPECT_EQ(
      file->packets[0].comment,
      "drop: no_flow_not_syn (" + std::string(DropReasonHelp(DropReason::kNoFlowNotSyn)) + ")\n");
  EXPECT_EQ(drop.skipped, 0u);
}

TEST_F(CaptureTest, StopsAtItsCountAndNothingIsCopiedWhenDisarmed) {
  CaptureOutcome out = Run(kConsumer0, CaptureDirection::kRx, 2, [&] {
    for (uint16_t port = 40000; port < 40005; ++port) {
      h_.Inject(kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1, 0, 0, port))));
    }
    h_.Poll();
  });
  EXPECT_EQ(out.packets, 2u);
  ASSERT_EQ(ReadPcapng(out.pcapng)->packets.size(), 2u);
  // Disarmed: the worker's filter is off again and copies stop.
  h_.Inject(kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1, 0, 0, 40009))));
  h_.Poll();
  EXPECT_EQ(capture_->Drain(), 0u);
  EXPECT_EQ(h_.worker().capture.direction, CaptureDirection::kNone);
  // One capture at a time.
  ASSERT_TRUE(capture_->Arm({.port = kConsumer0, .port_name = "p"}).ok());
  EXPECT_EQ(capture_->Arm({.port = kConsumer0, .port_name = "p"}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(capture_->Wait(1));
  EXPECT_EQ(capture_->Finish().packets, 0u);
}

TEST_F(InspectTest, AuditLogWritesStartAndEndLinesWithTheEndReason) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("privlink-audit-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  auto log = AuditLog::Create(path, "inspect_test_audit", 1, 0);
  ASSERT_TRUE(log.ok()) << log.status();
  h_.worker().audit = (*log)->ring(0);
  auto send = [&](uint16_t port, const TcpFrameSpec& spec, uint64_t& bytes) {
    const Frame frame = BuildTcpFrame(spec);
    bytes += frame.bytes.size();
    h_.Inject(port, frame);
    h_.Poll();
    for (uint16_t p = 0; p < kPortCount; ++p) h_.TakeSent(p);
  };

  // a closes with FIN both ways; b is reset by its client; c's endpoint is rejected.
  Opened a = Establish(kNetA, 40000);
  send(kConsumer0, FromClient(kNetA, Tcp(kTcpFin | kTcpAck, 1101, 5301, 0, 40000)), a.bytes_out);
  send(kProvider, FromBackend(a.backend, a.nat, kTcpFin | kTcpAck, 5301, 1102), a.bytes_in);
  Opened b = Establish(kNetB, 40001);
  send(kConsumer1, FromClient(kNetB, Tcp(kTcpRst, 1101, 0, 0, 40001)), b.bytes_out);
  h_.clock().Advance(nat::FlowTimeouts{}.transitory_ms + 1);
  h_.Poll();
  const Opened c = Establish(kNetA, 40002);
  h_.clock().Advance(10'000);
  ASSERT_TRUE(h_.RejectConnection(kEndpointA).ok());
  h_.clock().Advance(nat::FlowTimeouts{}.established_ms + 1);
  h_.Poll();
  EXPECT_EQ((*log)->Drain(h_.snapshot()), 6u);
  EXPECT_EQ(h_.worker().audit_lost.Read(), 0u);
  h_.worker().audit = nullptr;
  log->reset();

  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 6u);
  auto line_of = [&](const std::string& event, uint16_t client_port) -> std::string {
    for (const std::string& l : lines) {
      if (l.find("event=" + event + " ") != std::string::npos &&
          l.find("client=10.0.0.2:" + std::to_string(client_port) + " ") != std::string::npos) {
        return l;
      }
    }
    ADD_FAILURE() << "no " << event << " line for client port " << client_port;
    return "";
  };
  auto tuple = [](const NatTuple& n) {
    return FormatIpv4(n.ip) + ":" + std::to_string(Be16ToHost(n.port));
  };
  EXPECT_NE(
      line_of("start", 40000)
          .find(
              "event=start endpoint=pe-a service=svc network=a protocol=tcp client=10.0.0.2:40000 "
              "endpoint_address=10.0.0.100:80 nat=" +
              tuple(a.nat) + " backend=" + FormatIpv4(a.backend) + ":8080"),
      std::string::npos)
      << line_of("start", 40000);
  struct Want {
    uint16_t port;
    const Opened& flow;
    std::string rest;
  };
  for (const Want& w : {Want{40000, a, "reason=fin"}, Want{40001, b, "reason=rst"},
                        Want{40002, c, "reason=teardown"}}) {
    const std::string end = line_of("end", w.port);
    SCOPED_TRACE(end);
    EXPECT_NE(end.find(" nat=" + tuple(w.flow.nat) + " "), std::string::npos);
    EXPECT_NE(end.find(" bytes_out=" + std::to_string(w.flow.bytes_out) +
                       " bytes_in=" + std::to_string(w.flow.bytes_in) + " "),
              std::string::npos);
    EXPECT_NE(end.find(w.rest), std::string::npos);
  }
  // a lived the transitory timeout, measured in 256 ms ticks.
  const std::string a_end = line_of("end", 40000);
  const size_t d = a_end.find("duration_s=");
  ASSERT_NE(d, std::string::npos);
  EXPECT_NEAR(std::stod(a_end.substr(d + 11)), nat::FlowTimeouts{}.transitory_ms / 1000.0, 0.3);
  EXPECT_NE(line_of("start", 40001).find("endpoint=pe-b service=svc network=b"), std::string::npos);
}

}  // namespace
}  // namespace privlink::dataplane
