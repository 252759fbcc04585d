// privlink-tracegen: realistic pcaps for a config (tools/trace/tracegen.h), one per side:
// what clients send into the consumer port and what backends send into the provider port.
// Replaying both with privlink-replay reproduces the translations made while generating.
//
//   privlink-tracegen --config FILE --consumer-out A.pcap --provider-out B.pcap
//                     [--endpoint PE] [--clients N] [--connections M] [--request-bytes R]
//                     [--response-bytes S] [--close fin|rst|mixed] [--step-ms T]
//                     [--interval-ms I] [--seed X]
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "absl/strings/string_view.h"
#include "control/config/daemon_config.h"
#include "dataplane/offline/replay.h"
#include "tools/replay/pcap_io.h"
#include "tools/trace/tracegen.h"

namespace {

namespace po = boost::program_options;
using privlink::tools::PcapWriter;
using privlink::trace::CloseMode;
using privlink::trace::TracegenOptions;

constexpr char kProgram[] = "privlink-tracegen";

int Fail(absl::string_view message) {
  std::cerr << kProgram << ": " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, consumer_out, provider_out, close = "fin";
  TracegenOptions o;
  po::options_description d("privlink-tracegen options");
  d.add_options()("help,h", "show usage")("config", po::value(&config_path), "privlinkd config")(
      "consumer-out", po::value(&consumer_out), "client frames (pcap, written)")(
      "provider-out", po::value(&provider_out), "backend frames (pcap, written)")(
      "endpoint", po::value(&o.endpoint), "private endpoint (default: the first with a rule)")(
      "clients", po::value(&o.clients)->default_value(o.clients), "clients")(
      "connections", po::value(&o.connections_per_client)->default_value(1),
      "connections per client")(
      "request-bytes", po::value(&o.request_bytes)->default_value(o.request_bytes), "request")(
      "response-bytes", po::value(&o.response_bytes)->default_value(o.response_bytes), "response")(
      "mss", po::value(&o.mss)->default_value(o.mss), "segment size")(
      "close", po::value(&close)->default_value(close), "fin, rst or mixed (every 4th resets)")(
      "step-ms", po::value(&o.step_ms)->default_value(o.step_ms), "ms between segments")(
      "interval-ms", po::value(&o.interval_ms)->default_value(o.interval_ms),
      "ms between connection starts")("seed", po::value(&o.seed)->default_value(o.seed),
                                      "seed of the initial sequence numbers");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, d), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: privlink-tracegen --config FILE --consumer-out A.pcap "
                   "--provider-out B.pcap [options]\n"
                << d;
      return 0;
    }
    if (config_path.empty() || consumer_out.empty() || provider_out.empty()) {
      throw po::error("--config, --consumer-out and --provider-out are required");
    }
    if (close == "fin") {
      o.close = CloseMode::kFin;
    } else if (close == "rst") {
      o.close = CloseMode::kRst;
    } else if (close == "mixed") {
      o.close = CloseMode::kMixed;
    } else {
      throw po::error("--close must be fin, rst or mixed");
    }
    if (o.clients == 0 || o.clients > 60000 || o.connections_per_client == 0 ||
        o.connections_per_client > 28000 || o.mss == 0 || o.step_ms == 0) {
      throw po::error("--clients 1..60000, --connections 1..28000, --mss and --step-ms > 0");
    }
  } catch (const po::error& e) {
    std::cerr << kProgram << ": " << e.what() << " (see --help)\n";
    return 2;
  }

  auto config = privlink::control::LoadDaemonConfig(config_path);
  if (!config.ok()) return Fail(config.status().message());
  if (auto s = privlink::dataplane::InitReplayEal(kProgram); !s.ok()) return Fail(s.message());
  auto consumer = PcapWriter::Create(consumer_out);
  if (!consumer.ok()) return Fail(consumer.status().message());
  auto provider = PcapWriter::Create(provider_out);
  if (!provider.ok()) return Fail(provider.status().message());

  auto result = privlink::trace::GenerateTrace(
      *config, o, [&](auto frame, uint64_t time) { (*consumer)->Write(frame, time); },
      [&](auto frame, uint64_t time) { (*provider)->Write(frame, time); });
  if (!result.ok()) return Fail(result.status().message());
  for (auto* w : {consumer->get(), provider->get()}) {
    if (auto s = w->Close(); !s.ok()) return Fail(s.message());
  }
  std::cout << "endpoint " << result->endpoint << " (consumer port " << result->consumer_port
            << ", provider port " << result->provider_port << ")\n"
            << "connections " << result->connections << " (refused by the dataplane "
            << result->connections_refused << ")\n"
            << consumer_out << ": " << result->consumer_frames << " frames\n"
            << provider_out << ": " << result->provider_frames << " frames\n";
  return 0;
}
