#include "bench/connection_rate.h"

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>

#include "bench/bench_common.h"
#include "dataplane/packet/parse.h"
#include "dataplane/worker/worker_loop.h"
#include "nat/tcp_state.h"
#include "tools/trace/conversation.h"

namespace privlink::bench {
namespace {

constexpr uint8_t kClientBlock = 2;  // clients 10.2.x.y
constexpr uint32_t kClientIsn = 1000;
constexpr uint32_t kBackendIsn = 5000;
constexpr uint32_t kRequestBytes = 6;  // 60-byte frames, as small as the established phase's
constexpr uint32_t kResponseBytes = 6;
// New connections at most per iteration: half a burst, so answers to earlier connections
// always find room in the consumer burst.
constexpr unsigned kNewPerIteration = kBurst / 2;

using Frame = std::vector<uint8_t>;

struct Seen {
  trace::WireTuple reply;  // the tuple an answer to this frame is sent with
  uint8_t flags = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t payload = 0;
  uint32_t next_ack() const {
    return seq + payload + ((flags & (nat::kTcpSyn | nat::kTcpFin)) != 0 ? 1 : 0);
  }
};

// What a frame the worker sent says, and how to answer it.
bool Read(const uint8_t* f, uint16_t len, Seen& out) {
  const dataplane::ParsedPacket p = dataplane::ParsePacket(dataplane::PacketView(f, len));
  if (p.verdict != dataplane::ParseVerdict::kTcp) return false;
  const nat::Tuple reply = p.key.tuple.Reversed();
  out.reply = {.src_mac = p.dst_mac,
               .dst_mac = p.src_mac,
               .src_ip = reply.src_ip,
               .dst_ip = reply.dst_ip,
               .src_port = reply.src_port,
               .dst_port = reply.dst_port};
  out.flags = p.tcp_flags;
  uint32_t seq, ack;
  std::memcpy(&seq, f + p.l4_offset + 4, 4);
  std::memcpy(&ack, f + p.l4_offset + 8, 4);
  out.seq = Be32ToHost(seq);
  out.ack = Be32ToHost(ack);
  out.payload = p.tcp_payload_len();
  return true;
}

Frame Answer(const Seen& s, trace::Side from, uint8_t flags, uint32_t payload) {
  const trace::Segment seg{
      .from = from, .flags = flags, .seq = s.ack, .ack = s.next_ack(), .payload_len = payload};
  return trace::BuildSegmentFrame(seg, s.reply);
}

// The backend's side of a connection, from a frame the worker sent it.
void BackendAnswers(const Seen& s, std::deque<Frame>& out) {
  if ((s.flags & nat::kTcpSyn) != 0) {
    const trace::Segment seg{.from = trace::Side::kBackend,
                             .flags = nat::kTcpSyn | nat::kTcpAck,
                             .seq = kBackendIsn,
                             .ack = s.next_ack()};
    out.push_back(trace::BuildSegmentFrame(seg, s.reply));
  } else if ((s.flags & nat::kTcpFin) != 0) {
    out.push_back(Answer(s, trace::Side::kBackend, nat::kTcpFin | nat::kTcpAck, 0));
  } else if (s.payload != 0) {
    out.push_back(Answer(s, trace::Side::kBackend, nat::kTcpPsh | nat::kTcpAck, kResponseBytes));
  }
}

// The client's side, from a frame the worker sent back; true when the connection is complete.
bool ClientAnswers(const Seen& s, std::deque<Frame>& out) {
  if ((s.flags & nat::kTcpFin) != 0) {
    out.push_back(Answer(s, trace::Side::kClient, nat::kTcpAck, 0));
    return true;
  }
  if ((s.flags & nat::kTcpSyn) != 0) {
    out.push_back(Answer(s, trace::Side::kClient, nat::kTcpAck, 0));
    out.push_back(Answer(s, trace::Side::kClient, nat::kTcpPsh | nat::kTcpAck, kRequestBytes));
  } else if (s.payload != 0) {
    out.push_back(Answer(s, trace::Side::kClient, nat::kTcpFin | nat::kTcpAck, 0));
  }
  return false;
}

Frame Syn(uint64_t i) {
  const ClientTuple c = Client(kClientBlock, i);
  const trace::WireTuple w{.src_mac = kClientMac,
                           .dst_mac = kConsumerMac,
                           .src_ip = c.ip,
                           .dst_ip = kPeIp,
                           .src_port = c.port,
                           .dst_port = HostToBe16(kFrontendPort)};
  const trace::Segment seg{.from = trace::Side::kClient, .flags = nat::kTcpSyn, .seq = kClientIsn};
  return trace::BuildSegmentFrame(seg, w);
}

// Queues up to a burst from `pending` on `ring`.
void Queue(rte_mempool* pool, rte_ring* ring, std::deque<Frame>& pending) {
  const size_t n = std::min<size_t>(pending.size(), kBurst);
  if (n == 0) return;
  std::vector<const uint8_t*> frames(n);
  std::vector<uint16_t> lens(n);
  for (size_t i = 0; i < n; ++i) {
    frames[i] = pending[i].data();
    lens[i] = static_cast<uint16_t>(pending[i].size());
  }
  EnqueueFrames(pool, ring, frames, lens, 0);
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
}

// Reads what a TX ring holds, answering each frame with `answer`; returns connections completed.
template <typename AnswerFn>
uint64_t Reflect(rte_ring* ring, AnswerFn answer) {
  rte_mbuf* sent[64];
  uint64_t completed = 0;
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(sent), 64, nullptr)) != 0) {
    for (unsigned i = 0; i < n; ++i) {
      Seen s;
      if (Read(rte_pktmbuf_mtod(sent[i], const uint8_t*), sent[i]->data_len, s)) {
        completed += answer(s) ? 1 : 0;
      }
    }
    rte_pktmbuf_free_bulk(sent, n);
  }
  return completed;
}

}  // namespace

bool RunConnectionRate(uint64_t connections, ConnectionRateResult& r) {
  const std::unique_ptr<ReplayPipeline> pipeline =
      MakePipeline({.flow_capacity = connections, .backends = BackendsFor(connections)});
  if (pipeline == nullptr) return false;
  ReplayPipeline& p = *pipeline;
  dataplane::Worker& worker = p.mutable_worker();
  const uint16_t consumer = *p.PortIndex("consumer0");
  const uint16_t provider = *p.PortIndex("provider0");
  TscClock clock(p);
  clock.Update();
  p.Flush();  // the control thread's first round (gratuitous ARP) out of the way

  std::deque<Frame> from_clients, from_backends;
  uint64_t opened = 0;
  const auto drops_before = p.Summary().drops;
  Progress progress("connections", connections);
  const uint64_t start = rte_rdtsc();
  uint64_t idle_rounds = 0;
  // Until every connection completed and the last ACKs went through too.
  for (uint64_t i = 1; r.connections < connections || !from_clients.empty(); ++i) {
    for (unsigned k = 0;
         k < kNewPerIteration && opened < connections && from_clients.size() < kBurst; ++k) {
      from_clients.push_back(Syn(opened++));
    }
    Queue(p.pool(), p.rx_ring(consumer), from_clients);
    Queue(p.pool(), p.rx_ring(provider), from_backends);
    const uint64_t t0 = rte_rdtsc();
    const uint32_t received = dataplane::PollOnce(worker);
    r.worker_cycles += rte_rdtsc() - t0;
    r.packets += received;
    Reflect(p.tx_ring(provider), [&](const Seen& s) {
      BackendAnswers(s, from_backends);
      return false;
    });
    r.connections +=
        Reflect(p.tx_ring(consumer), [&](const Seen& s) { return ClientAnswers(s, from_clients); });
    // Nothing in flight and nothing left to open: the rest will never complete.
    idle_rounds = received == 0 ? idle_rounds + 1 : 0;
    if (idle_rounds > 2) break;
    if ((i & 63) == 0) {
      clock.Update();
      progress.Update(r.connections);
    }
  }
  r.harness_cycles = rte_rdtsc() - start;
  progress.Done();
  DropsSince drops = CountDropsSince(drops_before, p);
  r.dropped = drops.total;
  r.drop_reasons = std::move(drops.by_reason);
  if (r.connections != connections) {
    std::fprintf(stderr, "connections: %llu of %llu completed\n",
                 static_cast<unsigned long long>(r.connections),
                 static_cast<unsigned long long>(connections));
    return false;
  }
  return true;
}

}  // namespace privlink::bench
