// privlink-engine-demo: the translation engine on a few synthetic connections, printed step by
// step. `make demo` runs it until the dataplane daemon exists; it uses the same nat/ and lb/ code
// the worker cores will run, with a virtual clock.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "lb/maglev.h"
#include "nat/expiry.h"
#include "nat/flow_setup.h"
#include "nat/translate.h"

namespace privlink {
namespace {

using nat::FlowDirection;

struct Packet {
  uint8_t bytes[40] = {};
  uint8_t* ip() { return bytes; }
  uint8_t* tcp() { return bytes + 20; }
  Ipv4Be Field32(int off) const {
    Ipv4Be v;
    std::memcpy(&v, bytes + off, 4);
    return v;
  }
  PortBe Field16(int off) const {
    PortBe v;
    std::memcpy(&v, bytes + off, 2);
    return v;
  }
  std::string Describe() const {
    return absl::StrFormat("%s -> %s", FormatEndpoint(Field32(12), Field16(20)),
                           FormatEndpoint(Field32(16), Field16(22)));
  }
};

Packet MakePacket(Ipv4Be src, PortBe sport, Ipv4Be dst, PortBe dport, uint8_t flags) {
  Packet p;
  p.bytes[0] = 0x45;
  p.bytes[3] = 40;
  p.bytes[8] = 64;
  p.bytes[9] = nat::kIpProtoTcp;
  std::memcpy(p.bytes + 12, &src, 4);
  std::memcpy(p.bytes + 16, &dst, 4);
  std::memcpy(p.bytes + 20, &sport, 2);
  std::memcpy(p.bytes + 22, &dport, 2);
  p.bytes[32] = 5 << 4;
  p.bytes[33] = flags;
  const uint16_t ipc = nat::Ipv4HeaderChecksum(p.ip());
  std::memcpy(p.bytes + 10, &ipc, 2);
  const uint16_t tc = nat::TcpChecksum(src, dst, p.tcp(), 20);
  std::memcpy(p.bytes + 36, &tc, 2);
  return p;
}

bool ChecksumsValid(Packet& p) {
  uint16_t ipc, tc;
  std::memcpy(&ipc, p.bytes + 10, 2);
  std::memcpy(&tc, p.bytes + 36, 2);
  return ipc == nat::Ipv4HeaderChecksum(p.ip()) &&
         tc == nat::TcpChecksum(p.Field32(12), p.Field32(16), p.tcp(), 20);
}

int RunDemo() {
  const std::vector<lb::MaglevBackend> backends = {
      {"192.168.10.11", 1}, {"192.168.10.12", 2}, {"192.168.10.13", 1}};
  const std::vector<Ipv4Be> backend_ips = {Ipv4(192, 168, 10, 11), Ipv4(192, 168, 10, 12),
                                           Ipv4(192, 168, 10, 13)};
  const std::vector<Ipv4Be> nat_ips = {Ipv4(192, 168, 10, 200), Ipv4(192, 168, 10, 201)};
  auto maglev = lb::BuildMaglevTable(backends);
  auto table = nat::FlowTable::Create({.capacity = 1024});
  auto ports = nat::NatPortAllocator::Create({});
  if (!maglev.ok() || !table.ok() || !ports.ok()) {
    std::fprintf(stderr, "engine setup failed\n");
    return 1;
  }
  nat::VirtualClock clock;
  const Ipv4Be pe = Ipv4(10, 0, 0, 100);
  const Ipv4Be client = Ipv4(10, 0, 0, 2);
  const PortBe frontend = HostToBe16(80), backend_port = HostToBe16(8080);
  std::printf(
      "service fabrikam-api: PE 10.0.0.100:80 -> backends .11 (w1) .12 (w2) .13 (w1) :8080, "
      "NAT IPs .200 .201\n\n");

  int bad = 0;
  // The same client tuple in two overlapping consumer networks, then more clients.
  struct Conn {
    nat::NetworkId network;
    uint16_t client_port;
  };
  const Conn conns[] = {{1, 40000}, {2, 40000}, {1, 40001}, {1, 40002}, {2, 40003}};
  std::vector<nat::FlowId> ids;
  for (const Conn& c : conns) {
    const nat::FlowKey key{client, pe, HostToBe16(c.client_port), frontend, c.network};
    const uint16_t slot = maglev->Pick(nat::HashFlowKey(key).value);
    auto id = nat::CreateFlow(**table, *ports, 0,
                              {.client_to_endpoint = key,
                               .backend_ip = backend_ips[slot],
                               .backend_port = backend_port,
                               .nat_ips = nat_ips},
                              clock.NowMs());
    if (!id.ok()) {
      std::printf("flow setup failed: %s\n",
                  std::string(nat::SetupFailureName(id.failure)).c_str());
      return 1;
    }
    ids.push_back(*id);
    nat::FlowEntry& flow = (*table)->entry(*id);
    Packet syn = MakePacket(client, key.tuple.src_port, pe, frontend, nat::kTcpSyn);
    const std::string before = syn.Describe();
    nat::TranslateOnFlow(flow, FlowDirection::kIn2Out, {{syn.ip(), syn.tcp()}, nat::kTcpSyn, 54},
                         nat::ToMs32(clock.NowMs()));
    std::printf("net%u SYN     %-26s => %-30s %s\n", c.network, before.c_str(),
                syn.Describe().c_str(), ChecksumsValid(syn) ? "checksums ok" : "BAD CHECKSUM");
    bad += !ChecksumsValid(syn);
    const nat::FlowKey& rev = flow.binding.rev;
    Packet synack = MakePacket(rev.tuple.src_ip, rev.tuple.src_port, rev.tuple.dst_ip,
                               rev.tuple.dst_port, nat::kTcpSyn | nat::kTcpAck);
    const std::string back = synack.Describe();
    auto hit = (*table)->Lookup(rev);
    nat::TranslateOnFlow((*table)->entry(hit.id), hit.dir,
                         {{synack.ip(), synack.tcp()}, nat::kTcpSyn | nat::kTcpAck, 54},
                         nat::ToMs32(clock.NowMs()));
    std::printf("     SYN-ACK %-26s => %-30s %s\n", back.c_str(), synack.Describe().c_str(),
                ChecksumsValid(synack) ? "checksums ok" : "BAD CHECKSUM");
    bad += !ChecksumsValid(synack);
    Packet ack = MakePacket(client, key.tuple.src_port, pe, frontend, nat::kTcpAck);
    nat::TranslateOnFlow(flow, FlowDirection::kIn2Out, {{ack.ip(), ack.tcp()}, nat::kTcpAck, 54},
                         nat::ToMs32(clock.NowMs()));
    std::printf("     state %s\n", nat::FlowStateName(flow.state()));
  }
  for (Ipv4Be ip : nat_ips) {
    const nat::PortUsage u = ports->Usage(ip, clock.NowMs());
    std::printf("\nNAT IP %s: %u ports used, %u in quarantine, %u per backend",
                FormatIpv4(ip).c_str(), u.used, u.quarantined, u.capacity);
  }
  const nat::FlowTimeouts timeouts;  // defaults: RST 10 s, established idle 4 min
  auto expire = [&] {
    return nat::ExpireFlows(
        **table, {.worker = 0, .now = nat::ToMs32(clock.NowMs()), .budget = 1024},
        nat::ExpiryHooks{
            [&](uint16_t) -> const nat::FlowTimeouts& { return timeouts; },
            [&](nat::FlowId id, nat::FlowEntry& e) {
              std::printf("  expired flow %u (%s), NAT port %u returned to quarantine\n", id,
                          nat::FlowStateName(e.state()), Be16ToHost(e.binding.rev.tuple.dst_port));
              nat::ReleaseFlowPort(*ports, e.binding, clock.NowMs()).IgnoreError();
            }});
  };
  std::printf("\n\nthe backend resets flow 0; 11 s later (reset timeout 10 s):\n");
  nat::FlowEntry& first = (*table)->entry(ids[0]);
  first.AdvanceTcpState(FlowDirection::kOut2In, nat::kTcpRst);
  clock.Advance(11'000);
  expire();
  std::printf("  %u flows left\n\nno traffic for 4 minutes (established idle timeout):\n",
              (*table)->Size());
  clock.Advance(240'000);
  expire();
  std::printf("  %u flows left\n", (*table)->Size());
  std::printf("\n%s\n", bad == 0 ? "all translated packets have valid checksums"
                                 : "SOME CHECKSUMS WERE WRONG");
  return bad == 0 ? 0 : 1;
}

}  // namespace
}  // namespace privlink

int main(int argc, char** argv) {
  // No options: --help prints what it does; anything else is a usage error.
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf(
        "usage: privlink-engine-demo\n"
        "Runs the translation engine (nat/, lb/) on a few synthetic connections with a virtual\n"
        "clock and prints each step. It takes no options.\n");
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "privlink-engine-demo: unknown option '%s' (it takes none; see --help)\n",
                 argv[1]);
    return 2;
  }
  return privlink::RunDemo();
}
