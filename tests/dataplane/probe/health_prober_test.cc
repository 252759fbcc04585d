// The health prober (dataplane/probe/health_prober.h) driven segment by segment on a virtual
// clock: what it sends, what each answer makes of the probe, and when a backend goes down and
// comes back.
#include "dataplane/probe/health_prober.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "nat/port_alloc.h"
#include "nat/tcp_state.h"

namespace privlink::dataplane {
namespace {

using control::ProbeProtocol;
using nat::kTcpAck;
using nat::kTcpFin;
using nat::kTcpPsh;
using nat::kTcpRst;
using nat::kTcpSyn;

const Ipv4Be kNatIp = *ParseIpv4("192.168.10.200");
const Ipv4Be kBackendA = *ParseIpv4("192.168.10.11");
const Ipv4Be kBackendB = *ParseIpv4("192.168.10.12");
constexpr control::ServiceId kService = 3;
constexpr uint16_t kPort = 8080;
constexpr uint32_t kIntervalMs = 5000;
constexpr uint32_t kTimeoutMs = 2000;
constexpr uint32_t kBackendIsn = 7000;

control::SnapshotProbe Probe(ProbeProtocol protocol, std::string path = "") {
  return {.protocol = protocol,
          .port = HostToBe16(kPort),
          .path = std::move(path),
          .interval_ms = kIntervalMs,
          .timeout_ms = kTimeoutMs,
          .unhealthy_threshold = 2,
          .healthy_threshold = 2};
}

// A snapshot with one service (id kService, NAT IP kNatIp) and these backends and probe.
std::unique_ptr<control::Snapshot> SnapshotWith(uint64_t generation,
                                                std::optional<control::SnapshotProbe> probe,
                                                std::vector<Ipv4Be> backends = {kBackendA}) {
  auto snap = std::make_unique<control::Snapshot>();
  snap->generation = generation;
  auto service = std::make_shared<control::SnapshotService>();
  service->id = kService;
  service->name = "web";
  service->nat_ips = {kNatIp};
  service->new_flow_nat_ips = {kNatIp};
  for (const Ipv4Be ip : backends) service->backends.push_back({.ip = ip});
  service->probe = std::move(probe);
  snap->services.resize(kService + 1);
  snap->services[kService] = service;
  return snap;
}

// The answer `from`'s backend sends to segment `to`.
ProbeArrival Answer(const ProbeSegment& to, uint8_t flags, uint32_t seq,
                    std::span<const uint8_t> payload = {}) {
  const uint32_t consumed = (to.flags & kTcpSyn ? 1 : 0) + static_cast<uint32_t>(to.payload.size());
  return {.tuple = to.tuple.Reversed(),
          .seq = seq,
          .ack = to.seq + consumed,
          .flags = flags,
          .payload = payload};
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class HealthProberTest : public ::testing::Test {
 protected:
  // Ticks until the next probe of the (single) target starts; returns its SYN.
  ProbeSegment NextSyn() {
    for (int i = 0; i < 1000; ++i, now_ += 10) {
      prober_.Tick(now_);
      std::vector<ProbeSegment> sent = prober_.TakeSegments();
      if (sent.empty()) continue;
      EXPECT_EQ(sent.size(), 1u);
      return sent[0];
    }
    ADD_FAILURE() << "no probe started";
    return {};
  }
  control::ProbeReport OnlyReport() {
    std::vector<control::ProbeReport> reports = prober_.TakeReports();
    EXPECT_EQ(reports.size(), 1u);
    return reports.empty() ? control::ProbeReport{} : reports[0];
  }

  HealthProber prober_{42};
  nat::TimeMs now_ = 0;
};

TEST_F(HealthProberTest, TcpProbeSendsSynFromTheNatIpAndAProbePortAndPassesOnSynAck) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp)), now_);
  const ProbeSegment syn = NextSyn();
  EXPECT_LE(now_, kIntervalMs) << "the first probe comes within one interval";
  EXPECT_EQ(syn.flags, kTcpSyn);
  EXPECT_EQ(syn.tuple.src_ip, kNatIp);
  EXPECT_EQ(syn.tuple.dst_ip, kBackendA);
  EXPECT_EQ(syn.tuple.dst_port, HostToBe16(kPort));
  EXPECT_TRUE(nat::IsProbePort(syn.tuple.src_port));
  EXPECT_TRUE(syn.payload.empty());

  ASSERT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
  const std::vector<ProbeSegment> sent = prober_.TakeSegments();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].flags, kTcpRst | kTcpAck) << "the backend keeps no half-open connection";
  EXPECT_EQ(sent[0].seq, syn.seq + 1);
  EXPECT_EQ(sent[0].ack, kBackendIsn + 1);
  const control::ProbeReport r = OnlyReport();
  EXPECT_EQ(r.service, kService);
  EXPECT_EQ(r.backend, kBackendA);
  EXPECT_TRUE(r.passed);
  EXPECT_TRUE(r.up);
  EXPECT_EQ(r.result, "ok");
  EXPECT_EQ(r.generation, 1u);
}

TEST_F(HealthProberTest, ThresholdsTakeABackendDownAndBringItBack) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp)), now_);
  struct Step {
    const char* answer;  // "refused", "timeout" or "ok"
    bool up_after;
  };
  const Step steps[] = {{"refused", true},  {"timeout", false}, {"ok", false},
                        {"refused", false}, {"ok", false},      {"ok", true}};
  for (const Step& step : steps) {
    SCOPED_TRACE(step.answer);
    const ProbeSegment syn = NextSyn();
    const std::string answer = step.answer;
    if (answer == "refused") {
      EXPECT_TRUE(prober_.OnArrival(Answer(syn, kTcpRst | kTcpAck, 0), now_));
    } else if (answer == "ok") {
      EXPECT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
    } else {
      now_ += kTimeoutMs;
      prober_.Tick(now_);
    }
    prober_.TakeSegments();
    const control::ProbeReport r = OnlyReport();
    EXPECT_EQ(r.result, answer);
    EXPECT_EQ(r.passed, answer == "ok");
    EXPECT_EQ(r.up, step.up_after);
    EXPECT_EQ(prober_.IsUp(kService, kBackendA), step.up_after);
  }
  EXPECT_EQ(prober_.counters().passed, 3u);
  EXPECT_EQ(prober_.counters().failed, 3u);
}

// The source NAT IP starts draining: probes leave from the next one at once, and a backend that
// was down stays down until it passes the healthy threshold from there (what was known of it is
// kept, and the attempt in flight is dropped without counting).
TEST_F(HealthProberTest, ANewSourceNatIpKeepsWhatIsKnownOfTheBackend) {
  const Ipv4Be kOtherNatIp = *ParseIpv4("192.168.10.201");
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp)), now_);
  for (int i = 0; i < 2; ++i) {
    const ProbeSegment syn = NextSyn();
    EXPECT_TRUE(prober_.OnArrival(Answer(syn, kTcpRst | kTcpAck, 0), now_));
    prober_.TakeReports();
  }
  ASSERT_FALSE(prober_.IsUp(kService, kBackendA));
  const ProbeSegment in_flight = NextSyn();

  auto draining = SnapshotWith(2, Probe(ProbeProtocol::kTcp));
  auto moved = std::make_shared<control::SnapshotService>(*draining->services[kService]);
  moved->nat_ips = {kNatIp, kOtherNatIp};
  moved->new_flow_nat_ips = {kOtherNatIp};
  draining->services[kService] = moved;
  prober_.Sync(*draining, now_);
  EXPECT_FALSE(prober_.OnArrival(Answer(in_flight, kTcpSyn | kTcpAck, kBackendIsn), now_))
      << "the dropped attempt's answer is stray";
  EXPECT_TRUE(prober_.TakeReports().empty());
  EXPECT_FALSE(prober_.IsUp(kService, kBackendA));

  const nat::TimeMs synced = now_;
  const ProbeSegment syn = NextSyn();
  EXPECT_LE(now_, synced + 10) << "the next probe leaves at once";
  EXPECT_EQ(syn.tuple.src_ip, kOtherNatIp);
  EXPECT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
  prober_.TakeSegments();
  EXPECT_FALSE(OnlyReport().up) << "one pass of two: still down";
  EXPECT_FALSE(prober_.IsUp(kService, kBackendA));
}

TEST_F(HealthProberTest, AnswersThatNameNothingSentAreStray) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp)), now_);
  const ProbeSegment syn = NextSyn();
  ProbeArrival blind = Answer(syn, kTcpRst | kTcpAck, 0);
  blind.ack += 1000;  // a RST that does not acknowledge our SYN: believed by no one
  EXPECT_FALSE(prober_.OnArrival(blind, now_));
  ProbeArrival other = Answer(syn, kTcpSyn | kTcpAck, kBackendIsn);
  other.tuple.src_port = HostToBe16(kPort + 1);  // not the port probed
  EXPECT_FALSE(prober_.OnArrival(other, now_));
  ProbeArrival bare_ack = Answer(syn, kTcpAck, kBackendIsn);
  EXPECT_FALSE(prober_.OnArrival(bare_ack, now_));
  EXPECT_TRUE(prober_.TakeReports().empty());
  EXPECT_EQ(prober_.counters().stray, 3u);
  // The probe goes on: the real answer still passes it.
  EXPECT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
  EXPECT_TRUE(OnlyReport().passed);
  // A late duplicate after the probe ended is stray too.
  EXPECT_FALSE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
}

// An http probe: the request after the handshake, then the response's first line decides.
struct HttpCase {
  const char* description;
  std::vector<std::string> response;  // segments, in order
  bool fin_after = false;
  bool passed;
  const char* result;
};

class HttpProbeTest : public HealthProberTest, public ::testing::WithParamInterface<HttpCase> {};

TEST_P(HttpProbeTest, StatusLineDecides) {
  const HttpCase& c = GetParam();
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kHttp, "/healthz")), now_);
  const ProbeSegment syn = NextSyn();
  ASSERT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
  std::vector<ProbeSegment> sent = prober_.TakeSegments();
  ASSERT_EQ(sent.size(), 1u);
  const ProbeSegment request = sent[0];
  EXPECT_EQ(request.flags, kTcpAck | kTcpPsh);
  EXPECT_EQ(request.seq, syn.seq + 1);
  EXPECT_EQ(request.ack, kBackendIsn + 1);
  EXPECT_EQ(request.payload,
            "GET /healthz HTTP/1.1\r\nHost: 192.168.10.11:8080\r\nUser-Agent: privlink-probe\r\n"
            "Connection: close\r\n\r\n");
  uint32_t seq = kBackendIsn + 1;
  for (size_t i = 0; i < c.response.size(); ++i) {
    const bool last = i + 1 == c.response.size();
    const uint8_t flags = kTcpAck | (last && c.fin_after ? kTcpFin : 0);
    ASSERT_TRUE(prober_.OnArrival(Answer(request, flags, seq, Bytes(c.response[i])), now_));
    seq += static_cast<uint32_t>(c.response[i].size());
  }
  if (c.response.empty() && c.fin_after) {
    ASSERT_TRUE(prober_.OnArrival(Answer(request, kTcpAck | kTcpFin, seq), now_));
  }
  const control::ProbeReport r = OnlyReport();
  EXPECT_EQ(r.passed, c.passed);
  EXPECT_EQ(r.result, c.result);
  sent = prober_.TakeSegments();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().flags & kTcpRst, kTcpRst) << "the connection ends with a RST";
  EXPECT_EQ(sent.back().seq, request.seq + request.payload.size());
}

INSTANTIATE_TEST_SUITE_P(
    Responses, HttpProbeTest,
    ::testing::Values(
        HttpCase{"ok", {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, false, true, "http 200"},
        HttpCase{"redirect", {"HTTP/1.0 302 Found\r\n"}, false, true, "http 302"},
        HttpCase{
            "server error", {"HTTP/1.1 503 Service Unavailable\r\n"}, false, false, "http 503"},
        HttpCase{"not found", {"HTTP/1.1 404 Not Found\r\n"}, false, false, "http 404"},
        HttpCase{"status line in pieces",
                 {"HTT", "P/1.1 20", "4 No Content\r\n"},
                 false,
                 true,
                 "http 204"},
        HttpCase{"not http", {"SSH-2.0-OpenSSH_9.2\r\n"}, false, false, "bad response"},
        HttpCase{"closed without a word", {}, true, false, "closed"},
        HttpCase{"closed mid-line", {"HTTP/1.1 2"}, true, false, "bad response"},
        HttpCase{"no line end within the limit",
                 {std::string(kMaxStatusLine, 'x')},
                 false,
                 false,
                 "bad response"}),
    [](const ::testing::TestParamInfo<HttpCase>& info) {
      std::string name = info.param.description;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST_F(HealthProberTest, HttpDataOutOfOrderWaitsForWhatComesFirst) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kHttp, "/")), now_);
  const ProbeSegment syn = NextSyn();
  ASSERT_TRUE(prober_.OnArrival(Answer(syn, kTcpSyn | kTcpAck, kBackendIsn), now_));
  const ProbeSegment request = prober_.TakeSegments().at(0);
  const std::string first = "HTTP/1.1 ";
  const std::string second = "200 OK\r\n";
  // The second piece first: not taken, nothing decided.
  prober_.OnArrival(Answer(request, kTcpAck, kBackendIsn + 1 + static_cast<uint32_t>(first.size()),
                           Bytes(second)),
                    now_);
  EXPECT_TRUE(prober_.TakeReports().empty());
  prober_.TakeSegments();
  prober_.OnArrival(Answer(request, kTcpAck, kBackendIsn + 1, Bytes(first)), now_);
  EXPECT_TRUE(prober_.TakeReports().empty());
  const std::vector<ProbeSegment> acks = prober_.TakeSegments();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].ack, kBackendIsn + 1 + first.size()) << "acknowledges what it took";
  prober_.OnArrival(Answer(request, kTcpAck, kBackendIsn + 1 + static_cast<uint32_t>(first.size()),
                           Bytes(second)),
                    now_);
  EXPECT_EQ(OnlyReport().result, "http 200");
}

TEST_F(HealthProberTest, SyncFollowsTheSnapshot) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp), {kBackendA, kBackendB}), now_);
  EXPECT_EQ(prober_.target_count(), 2u);
  // Down after two refusals each.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1000 && prober_.counters().started < 2u * (round + 1); ++i, now_ += 10) {
      prober_.Tick(now_);
    }
    for (const ProbeSegment& syn : prober_.TakeSegments()) {
      prober_.OnArrival(Answer(syn, kTcpRst | kTcpAck, 0), now_);
    }
  }
  EXPECT_FALSE(prober_.IsUp(kService, kBackendA));
  EXPECT_FALSE(prober_.IsUp(kService, kBackendB));
  // The same probe in a newer snapshot keeps what the prober knows; a backend that left is
  // forgotten.
  prober_.Sync(*SnapshotWith(2, Probe(ProbeProtocol::kTcp), {kBackendA}), now_);
  EXPECT_EQ(prober_.target_count(), 1u);
  EXPECT_FALSE(prober_.IsUp(kService, kBackendA));
  // A changed probe starts over, healthy.
  control::SnapshotProbe slower = Probe(ProbeProtocol::kTcp);
  slower.interval_ms *= 2;
  prober_.Sync(*SnapshotWith(3, slower, {kBackendA}), now_);
  EXPECT_TRUE(prober_.IsUp(kService, kBackendA));
  // No probe, no targets.
  prober_.Sync(*SnapshotWith(4, std::nullopt, {kBackendA}), now_);
  EXPECT_EQ(prober_.target_count(), 0u);
}

TEST_F(HealthProberTest, EachProbeTakesTheNextSourcePort) {
  prober_.Sync(*SnapshotWith(1, Probe(ProbeProtocol::kTcp)), now_);
  const ProbeSegment first = NextSyn();
  now_ += kTimeoutMs;
  prober_.Tick(now_);
  prober_.TakeSegments();
  prober_.TakeReports();
  const ProbeSegment second = NextSyn();
  const uint16_t a = Be16ToHost(first.tuple.src_port);
  const uint16_t b = Be16ToHost(second.tuple.src_port);
  EXPECT_EQ(b, a == nat::kProbeLastPort ? nat::kProbeFirstPort : a + 1);
  EXPECT_NE(first.seq, second.seq);
}

TEST(ParseStatusLineTest, Codes) {
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 200 OK"), 200);
  EXPECT_EQ(ParseStatusLine("HTTP/1.0 302"), 302);
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 200\r"), 200);
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 2000 OK"), -1);
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 20x OK"), -1);
  EXPECT_EQ(ParseStatusLine("HTTX/1.1 200 OK"), -1);
  EXPECT_EQ(ParseStatusLine("HTTP/1.1"), -1);
  EXPECT_EQ(ParseStatusLine(""), -1);
}

}  // namespace
}  // namespace privlink::dataplane
