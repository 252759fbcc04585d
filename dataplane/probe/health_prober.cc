#include "dataplane/probe/health_prober.h"

#include <array>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "dataplane/packet/proxy_v2.h"
#include "nat/port_alloc.h"
#include "nat/tcp_state.h"

namespace privlink::dataplane {

std::string HttpProbeRequest(const nat::Tuple& tuple, const std::string& path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", FormatIpv4(tuple.dst_ip), ":",
                      Be16ToHost(tuple.dst_port),
                      "\r\nUser-Agent: privlink-probe\r\nConnection: close\r\n\r\n");
}

int ParseStatusLine(std::string_view r) {
  // "HTTP/1.1 200 OK": a version of the form HTTP/d.d, a space, three digits, then a space or
  // the line's end.
  if (r.size() < 12 || r.substr(0, 5) != "HTTP/" || r[8] != ' ') return -1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (r[i] < '0' || r[i] > '9') return -1;
    code = code * 10 + (r[i] - '0');
  }
  if (r.size() > 12 && r[12] != ' ' && r[12] != '\r' && r[12] != '\n') return -1;
  return code;
}

uint64_t HealthProber::NextRandom() {
  // xorshift64*: enough to keep sequence numbers and probe times apart; not a secret.
  random_ ^= random_ >> 12;
  random_ ^= random_ << 25;
  random_ ^= random_ >> 27;
  return random_ * 0x2545f4914f6cdd1dull;
}

bool HealthProber::IsUp(control::ServiceId service, Ipv4Be backend) const {
  auto it = targets_.find(TargetKey{service, backend});
  return it == targets_.end() || it->second.up;
}

void HealthProber::Sync(const control::Snapshot& snap, nat::TimeMs now) {
  if (snap.generation == synced_generation_) return;
  synced_generation_ = snap.generation;
  absl::flat_hash_set<TargetKey> seen;
  for (const auto& service : snap.services) {
    // Probes leave from the first NAT IP that takes new flows (a draining one may be removed).
    if (service == nullptr || !service->probe || service->new_flow_nat_ips.empty()) continue;
    const Ipv4Be source = service->new_flow_nat_ips[0];
    for (const control::SnapshotBackend& b : service->backends) {
      const TargetKey key{service->id, b.ip};
      seen.insert(key);
      auto [it, added] = targets_.try_emplace(key);
      Target& t = it->second;
      if (!added && t.probe == *service->probe && t.proxy == service->proxy_protocol) {
        t.generation = snap.generation;
        if (t.source != source) {
          // The source NAT IP began draining: what is known of the backend stays (a down backend
          // must not read as up), the attempt in flight is dropped uncounted, and the next one
          // leaves from the new source at once.
          if (t.phase != Phase::kIdle) attempts_.erase(TupleKey{t.tuple.Reversed()});
          t.phase = Phase::kIdle;
          t.source = source;
          t.next_probe_ms = now;
        }
        continue;
      }
      if (!added && t.phase != Phase::kIdle) attempts_.erase(TupleKey{t.tuple.Reversed()});
      t = Target{};
      t.probe = *service->probe;
      t.source = source;
      t.proxy = service->proxy_protocol;
      t.generation = snap.generation;
      t.port_cursor = static_cast<uint16_t>(NextRandom() % nat::kProbePortCount);
      t.next_probe_ms = now + NextRandom() % (t.probe.interval_ms == 0 ? 1 : t.probe.interval_ms);
    }
  }
  absl::erase_if(targets_, [&](const auto& entry) {
    if (seen.contains(entry.first)) return false;
    if (entry.second.phase != Phase::kIdle) {
      attempts_.erase(TupleKey{entry.second.tuple.Reversed()});
    }
    return true;
  });
}

void HealthProber::Tick(nat::TimeMs now) {
  for (auto& [key, t] : targets_) {
    if (t.phase != Phase::kIdle && now >= t.deadline_ms) {
      // A connection the backend accepted is closed with a RST; a SYN left unanswered has none.
      Finish(key, t, false, "timeout", t.phase == Phase::kRequestSent);
    }
    if (t.phase == Phase::kIdle && now >= t.next_probe_ms) Start(key, t, now);
  }
}

void HealthProber::Start(const TargetKey& key, Target& t, nat::TimeMs now) {
  t.port_cursor = static_cast<uint16_t>((t.port_cursor + 1) % nat::kProbePortCount);
  t.tuple = nat::Tuple{.src_ip = t.source,
                       .dst_ip = key.backend,
                       .src_port = HostToBe16(nat::kProbeFirstPort + t.port_cursor),
                       .dst_port = t.probe.port};
  const auto isn = static_cast<uint32_t>(NextRandom());
  t.snd_next = isn + 1;
  t.rcv_next = 0;
  t.synchronized = false;
  t.response.clear();
  t.phase = Phase::kSynSent;
  t.deadline_ms = now + t.probe.timeout_ms;
  t.next_probe_ms = now + t.probe.interval_ms;
  attempts_[TupleKey{t.tuple.Reversed()}] = key;
  ++counters_.started;
  Send(t, isn, nat::kTcpSyn);
}

bool HealthProber::OnArrival(const ProbeArrival& a, nat::TimeMs) {
  auto found = attempts_.find(TupleKey{a.tuple});
  if (found == attempts_.end()) {
    ++counters_.stray;
    return false;
  }
  const TargetKey key = found->second;
  Target& t = targets_.at(key);
  const bool acks_ours = (a.flags & nat::kTcpAck) != 0 && a.ack == t.snd_next;
  if ((a.flags & nat::kTcpRst) != 0) {
    // Only a RST that names what we sent is believed (a blind one could fail a healthy backend).
    if (acks_ours || (t.phase == Phase::kRequestSent && a.seq == t.rcv_next)) {
      Finish(key, t, false, t.phase == Phase::kSynSent ? "refused" : "reset", false);
      return true;
    }
    ++counters_.stray;
    return false;
  }
  if (t.phase == Phase::kSynSent) {
    constexpr uint8_t kSynAck = nat::kTcpSyn | nat::kTcpAck;
    if ((a.flags & kSynAck) != kSynAck || !acks_ours) {
      ++counters_.stray;
      return false;
    }
    t.rcv_next = a.seq + 1;
    t.synchronized = true;
    if (t.probe.protocol == control::ProbeProtocol::kTcp) {
      Finish(key, t, true, "ok", true);
      return true;
    }
    std::string request;
    if (t.proxy) {
      std::array<uint8_t, kProxyV2LocalHeaderLen> local;
      WriteProxyV2Local(local);
      request.assign(local.begin(), local.end());
    }
    request += HttpProbeRequest(t.tuple, t.probe.path);
    const uint32_t seq = t.snd_next;
    t.snd_next += static_cast<uint32_t>(request.size());
    t.phase = Phase::kRequestSent;
    Send(t, seq, nat::kTcpAck | nat::kTcpPsh, std::move(request));
    return true;
  }
  OnHttpData(key, t, a);
  return true;
}

// The response, read in order up to its status line's end; what arrives out of order is left
// for the backend to send again.
void HealthProber::OnHttpData(const TargetKey& key, Target& t, const ProbeArrival& a) {
  if (a.seq != t.rcv_next || (a.payload.empty() && (a.flags & nat::kTcpFin) == 0)) return;
  const size_t room = kMaxStatusLine - t.response.size();
  const size_t take = std::min(room, a.payload.size());
  t.response.append(reinterpret_cast<const char*>(a.payload.data()), take);
  t.rcv_next += static_cast<uint32_t>(a.payload.size());
  const size_t eol = t.response.find('\n');
  if (eol == std::string::npos && t.response.size() < kMaxStatusLine) {
    if ((a.flags & nat::kTcpFin) != 0) {
      return Finish(key, t, false, t.response.empty() ? "closed" : "bad response", true);
    }
    return Send(t, t.snd_next, nat::kTcpAck);
  }
  const int code = ParseStatusLine(std::string_view(t.response).substr(0, eol));
  if (code < 0) return Finish(key, t, false, "bad response", true);
  Finish(key, t, code >= 200 && code < 400, absl::StrCat("http ", code), true);
}

void HealthProber::Finish(const TargetKey& key, Target& t, bool passed, std::string result,
                          bool reset) {
  if (reset) Send(t, t.snd_next, nat::kTcpRst);
  attempts_.erase(TupleKey{t.tuple.Reversed()});
  t.phase = Phase::kIdle;
  t.response.clear();
  if (passed) {
    ++counters_.passed;
    t.failures = 0;
    ++t.passes;
    if (!t.up && t.passes >= t.probe.healthy_threshold) t.up = true;
  } else {
    ++counters_.failed;
    t.passes = 0;
    ++t.failures;
    if (t.up && t.failures >= t.probe.unhealthy_threshold) t.up = false;
  }
  reports_.push_back(control::ProbeReport{.service = key.service,
                                          .backend = key.backend,
                                          .passed = passed,
                                          .up = t.up,
                                          .result = std::move(result),
                                          .generation = t.generation});
}

void HealthProber::Send(const Target& t, uint32_t seq, uint8_t flags, std::string payload) {
  // Everything after the SYN acknowledges what the backend sent.
  const bool acks = t.synchronized;
  segments_.push_back(
      ProbeSegment{.tuple = t.tuple,
                   .seq = seq,
                   .ack = acks ? t.rcv_next : 0,
                   .flags = static_cast<uint8_t>(acks ? flags | nat::kTcpAck : flags),
                   .payload = std::move(payload)});
}

}  // namespace privlink::dataplane
