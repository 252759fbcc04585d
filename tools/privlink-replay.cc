// privlink-replay: pcap traces through privlinkd's own dataplane, offline and deterministic.
//
//   privlink-replay --config FILE --consumer-in A.pcap [--provider-in B.pcap]
//                   --consumer-out X.pcap --provider-out Y.pcap [--drops Z.pcap]
//                   [--consumer-port NAME] [--provider-port NAME]
//
// The inputs are merged by timestamp (consumer first on a tie) and fed to a ReplayPipeline, whose
// clock is the frames' timestamps; what the worker sends on the two ports is written with the
// virtual time it was sent at. Exit 0 with a summary on stdout; 1 with one line on stderr for bad
// input (files, config); 2 for a usage error.
#include <rte_eal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "absl/strings/str_format.h"
#include "control/config/daemon_config.h"
#include "dataplane/offline/replay.h"
#include "tools/replay/pcap_io.h"

namespace {

namespace po = boost::program_options;
using privlink::dataplane::DropReason;
using privlink::dataplane::DropReasonName;
using privlink::dataplane::PortRole;
using privlink::dataplane::ReplayPipeline;
using privlink::dataplane::ReplaySummary;
using privlink::tools::PcapReader;
using privlink::tools::PcapRecord;
using privlink::tools::PcapWriter;

constexpr char kProgram[] = "privlink-replay";

struct Options {
  std::string config, consumer_in, provider_in, consumer_out, provider_out, drops;
  std::string consumer_port, provider_port;
  bool quiet = false;
};

int Fail(const std::string& message) {
  std::cerr << kProgram << ": " << message << "\n";
  return 1;
}

// -1: go on; otherwise the exit code.
int ParseOptions(int argc, char** argv, Options& o) {
  po::options_description d("privlink-replay options");
  d.add_options()("help,h", "show usage")("config", po::value(&o.config),
                                          "privlinkd config (JSON)")(
      "consumer-in", po::value(&o.consumer_in), "frames arriving on the consumer port (pcap)")(
      "provider-in", po::value(&o.provider_in), "frames arriving on the provider port (pcap)")(
      "consumer-out", po::value(&o.consumer_out), "frames sent on the consumer port (written)")(
      "provider-out", po::value(&o.provider_out), "frames sent on the provider port (written)")(
      "drops", po::value(&o.drops), "frames the dataplane dropped (written)")(
      "consumer-port", po::value(&o.consumer_port), "consumer port name (default: the first)")(
      "provider-port", po::value(&o.provider_port), "provider port name (default: the first)")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress bar");
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(d).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: privlink-replay --config FILE --consumer-in A.pcap [--provider-in "
                   "B.pcap]\n"
                   "         --consumer-out X.pcap --provider-out Y.pcap [--drops Z.pcap]\n\n"
                   "Replays pcap traces through privlinkd's dataplane (one worker), with the\n"
                   "frames' timestamps as its clock, and writes what it sends on each port.\n\n"
                << d;
      return 0;
    }
    for (const auto& [name, value] : {std::pair{"config", &o.config},
                                      {"consumer-in", &o.consumer_in},
                                      {"consumer-out", &o.consumer_out},
                                      {"provider-out", &o.provider_out}}) {
      if (value->empty()) throw po::error(std::string("--") + name + " is required");
    }
  } catch (const po::error& e) {
    std::cerr << kProgram << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  return -1;
}

// The index of the port `name` names in the config (or of the first port of `role` when `name`
// is empty), checked against its role; nullopt with `error` set otherwise.
std::optional<uint16_t> ChoosePort(const privlink::control::DataplaneConfig& config,
                                   const std::string& name, privlink::control::PortRole role,
                                   std::string& error) {
  const char* role_name = role == privlink::control::PortRole::kConsumer ? "consumer" : "provider";
  for (uint16_t i = 0; i < config.ports.size(); ++i) {
    const auto& port = config.ports[i];
    if (name.empty() ? port.role == role : port.name == name) {
      if (port.role == role) return i;
      error = "port '" + name + "' is not a " + role_name + " port";
      return std::nullopt;
    }
  }
  error = name.empty() ? std::string("the config has no ") + role_name + " port"
                       : "the config has no port '" + name + "'";
  return std::nullopt;
}

// Progress on stderr for traces that take a while: a redrawn bar on a terminal once a run takes
// over a second, a line every 10% otherwise once it takes over 5 s (logs of short runs stay
// clean).
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {}
  void Update(uint64_t done, uint64_t total, uint64_t frames) {
    if (!enabled_ || total == 0 || ++calls_ % 4096 != 0) return;
    const auto now = Clock::now();
    if (now - start_ < (tty_ ? std::chrono::seconds(1) : std::chrono::seconds(5))) return;
    const int percent = static_cast<int>(done * 100 / total);
    if (tty_) {
      if (now - last_ < std::chrono::milliseconds(200)) return;
      last_ = now;
      const int filled = percent * 30 / 100;
      std::fprintf(stderr, "\r%s [%-30s] %3d%%  %llu frames", kProgram,
                   std::string(filled, '#').c_str(), percent,
                   static_cast<unsigned long long>(frames));
      drawn_ = true;
    } else if (percent / 10 > last_decile_) {
      last_decile_ = percent / 10;
      std::fprintf(stderr, "%s: %d%% (%llu frames)\n", kProgram, percent,
                   static_cast<unsigned long long>(frames));
    }
  }
  void Done() {
    if (drawn_) std::fprintf(stderr, "\r%*s\r", 60, "");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  bool drawn_ = false;
  uint64_t calls_ = 0;
  int last_decile_ = 0;
  Clock::time_point start_ = Clock::now(), last_{};
};

void PrintSummary(const ReplaySummary& s, const std::vector<const PcapReader*>& inputs,
                  const std::vector<const PcapWriter*>& outputs, uint64_t snapped,
                  double wall_seconds) {
  std::cout << "inputs\n";
  for (const PcapReader* r : inputs) {
    std::cout << absl::StrFormat("  %-28s %10u frames\n", r->path(), r->records());
  }
  std::cout << "outputs\n";
  for (const PcapWriter* w : outputs) {
    std::cout << absl::StrFormat("  %-28s %10u frames\n", w->path(), w->records());
  }
  std::cout << "ports\n";
  for (const auto& p : s.ports) {
    std::cout << absl::StrFormat("  %-12s %-8s %10u in %10u out\n", p.name,
                                 p.role == PortRole::kConsumer ? "consumer" : "provider",
                                 p.frames_in, p.frames_out);
  }
  std::cout << absl::StrFormat("flows        %u created, %u expired, %u live at the end\n",
                               s.flows_created, s.flows_expired, s.flows_live);
  std::cout << absl::StrFormat(
      "translated   %u packets (%u towards providers, %u towards consumers)\n",
      s.translated_to_providers + s.translated_to_consumers, s.translated_to_providers,
      s.translated_to_consumers);
  if (s.workers.size() > 1) {
    std::cout << absl::StrFormat(
        "foreign      %u packets of a flow reached another worker than its creator's "
        "(and %u ICMP errors)\n",
        s.foreign_packets, s.foreign_icmp_errors);
  }
  std::cout << absl::StrFormat("drops        %u\n", s.drops_total);
  for (size_t r = 0; r < s.drops.size(); ++r) {
    if (s.drops[r] == 0) continue;
    std::cout << absl::StrFormat("  %-28s %10u\n", DropReasonName(static_cast<DropReason>(r)),
                                 s.drops[r]);
  }
  if (s.held_at_end != 0) {
    std::cout << absl::StrFormat("held         %u frames still wait for a neighbour's ARP reply\n",
                                 s.held_at_end);
  }
  if (s.reordered != 0) {
    std::cout << absl::StrFormat(
        "reordered    %u frames earlier than the one before (replayed "
        "at its time)\n",
        s.reordered);
  }
  if (snapped != 0) {
    std::cout << absl::StrFormat("snapped      %u frames cut short by the capture's snap length\n",
                                 snapped);
  }
  std::cout << absl::StrFormat("cycles/pkt   %.0f (worker, %u packets in %u bursts)\n",
                               s.cycles_per_packet(), s.packets_polled, s.busy_polls);
  std::cout << absl::StrFormat("time         %.3f s of trace replayed in %.3f s\n",
                               (s.last_time_us - s.first_time_us) / 1e6, wall_seconds);
  if (s.drops[static_cast<size_t>(DropReason::kEthDstNotOurs)] != 0) {
    std::cout << "hint: eth_dst_not_ours drops: set each port's \"mac\" in the config to the "
                 "destination MAC of the trace's frames\n";
  }
}

// What a run needs, all checked before DPDK starts.
struct Setup {
  privlink::control::DaemonConfig config;
  uint16_t consumer = 0, provider = 0;               // port indices
  std::vector<std::unique_ptr<PcapReader>> readers;  // consumer, then provider if given
  std::unique_ptr<PcapWriter> consumer_out, provider_out, drops_out;
};

// 0 when ready; otherwise the exit code, its message printed.
int Prepare(const Options& o, Setup& setup) {
  auto config = privlink::control::LoadDaemonConfig(o.config);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  setup.config = std::move(*config);
  std::string error;
  const auto consumer = ChoosePort(setup.config.dataplane, o.consumer_port,
                                   privlink::control::PortRole::kConsumer, error);
  if (!consumer) return Fail(o.config + ": " + error);
  const auto provider = ChoosePort(setup.config.dataplane, o.provider_port,
                                   privlink::control::PortRole::kProvider, error);
  if (!provider) return Fail(o.config + ": " + error);
  setup.consumer = *consumer;
  setup.provider = *provider;
  for (const std::string* path : {&o.consumer_in, &o.provider_in}) {
    if (path->empty()) continue;
    auto reader = PcapReader::Open(*path);
    if (!reader.ok()) return Fail(std::string(reader.status().message()));
    setup.readers.push_back(std::move(*reader));
  }
  for (auto [path, writer] : {std::pair{&o.consumer_out, &setup.consumer_out},
                              {&o.provider_out, &setup.provider_out},
                              {&o.drops, &setup.drops_out}}) {
    if (path->empty()) continue;
    auto created = PcapWriter::Create(*path);
    if (!created.ok()) return Fail(std::string(created.status().message()));
    *writer = std::move(*created);
  }
  return 0;
}

// Feeds the inputs merged by time (consumer first on a tie), flushes, closes the outputs and
// prints the summary. Returns the exit code.
int Replay(const Options& o, Setup& setup, ReplayPipeline& p) {
  const auto wall_start = std::chrono::steady_clock::now();
  PcapWriter* consumer_out = setup.consumer_out.get();
  PcapWriter* provider_out = setup.provider_out.get();
  p.OnSent([&](uint16_t port, std::span<const uint8_t> frame, uint64_t time) {
    if (port == setup.consumer) consumer_out->Write(frame, time);
    if (port == setup.provider) provider_out->Write(frame, time);
  });
  if (PcapWriter* drops_out = setup.drops_out.get(); drops_out != nullptr) {
    p.OnDropped([drops_out](DropReason, std::span<const uint8_t> frame, uint64_t time) {
      drops_out->Write(frame, time);
    });
  }

  auto& readers = setup.readers;
  const uint16_t in_port[2] = {setup.consumer, setup.provider};
  PcapRecord head[2];  // each reader's next record, fed once it is the earliest
  bool has[2] = {false, false};
  uint64_t total_bytes = 0, frames = 0, snapped = 0;
  for (const auto& r : readers) total_bytes += r->file_size();
  auto advance = [&](size_t i) -> absl::Status {
    auto next = readers[i]->Next(head[i]);
    if (!next.ok()) return next.status();
    has[i] = *next;
    return absl::OkStatus();
  };
  for (size_t i = 0; i < readers.size(); ++i) {
    if (auto s = advance(i); !s.ok()) return Fail(std::string(s.message()));
  }
  Progress progress(!o.quiet);
  while (has[0] || has[1]) {
    const size_t i = !has[0] ? 1 : !has[1] ? 0 : head[1].time_us < head[0].time_us ? 1 : 0;
    if (head[i].frame.size() < head[i].wire_len) ++snapped;
    if (auto s = p.Feed(in_port[i], head[i].frame, head[i].time_us); !s.ok()) {
      progress.Done();
      return Fail(absl::StrFormat("%s: record %u: %s", readers[i]->path(), readers[i]->records(),
                                  s.message()));
    }
    ++frames;
    uint64_t done = 0;
    for (const auto& r : readers) done += r->position();
    progress.Update(done, total_bytes, frames);
    if (auto s = advance(i); !s.ok()) {
      progress.Done();
      return Fail(std::string(s.message()));
    }
  }
  progress.Done();
  p.Flush();

  std::vector<const PcapWriter*> outputs;
  for (PcapWriter* w : {consumer_out, provider_out, setup.drops_out.get()}) {
    if (w == nullptr) continue;
    if (auto s = w->Close(); !s.ok()) return Fail(std::string(s.message()));
    outputs.push_back(w);
  }
  std::vector<const PcapReader*> inputs;
  for (const auto& r : readers) inputs.push_back(r.get());
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - wall_start;
  PrintSummary(p.Summary(), inputs, outputs, snapped, wall.count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const int rc = ParseOptions(argc, argv, o); rc >= 0) return rc;
  Setup setup;
  if (const int rc = Prepare(o, setup); rc != 0) return rc;
  if (auto s = privlink::dataplane::InitReplayEal(kProgram); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  int rc;
  {
    auto pipeline = ReplayPipeline::Create(setup.config);
    rc = pipeline.ok() ? Replay(o, setup, **pipeline)
                       : Fail(o.config + ": " + std::string(pipeline.status().message()));
  }
  setup = Setup();  // files closed before DPDK goes
  rte_eal_cleanup();
  return rc;
}
