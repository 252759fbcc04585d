// privlinkd: the daemon. For now only its control-only form runs:
//
//   privlinkd --config FILE --no-dataplane [--state-dir DIR] [--listen ADDR]
//   privlinkd [EAL options] -- --config FILE ...     (EAL options are for the dataplane)
//
// main() parses options, wires the parts and waits for SIGINT/SIGTERM (exit 0).
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "control/control_service.h"
#include "control/daemon_config.h"

namespace {

namespace po = boost::program_options;

// How often the main thread frees snapshots that every worker has moved past.
constexpr long kPollIntervalNs = 100'000'000;

struct Options {
  std::string config;
  bool no_dataplane = false;
  std::string state_dir;
  std::string listen;
};

// Our options follow "--" when EAL options come first; otherwise the whole command line is ours.
std::vector<std::string> OwnArguments(int argc, char** argv) {
  std::vector<std::string> all(argv + 1, argv + argc);
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--") return {all.begin() + static_cast<std::ptrdiff_t>(i) + 1, all.end()};
  }
  return all;
}

int ParseOptions(int argc, char** argv, Options& options) {
  po::options_description description("privlinkd options");
  description.add_options()("help,h", "show usage")(
      "config", po::value<std::string>(&options.config), "config file (JSON)")(
      "no-dataplane", po::bool_switch(&options.no_dataplane), "run the control plane alone")(
      "state-dir", po::value<std::string>(&options.state_dir),
      "state directory (overrides dataplane.stateDir)")(
      "listen", po::value<std::string>(&options.listen),
      "API address host:port or unix:/path (overrides dataplane.api.listen)");
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(OwnArguments(argc, argv)).options(description).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: privlinkd [EAL options --] --config FILE [--no-dataplane] "
                   "[--state-dir DIR] [--listen ADDR]\n"
                << description;
      return 0;
    }
    if (options.config.empty()) throw po::error("--config is required");
  } catch (const po::error& e) {
    std::cerr << "privlinkd: " << e.what() << "\n";
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const int rc = ParseOptions(argc, argv, options); rc >= 0) return rc;
  if (!options.no_dataplane) {
    std::cerr << "privlinkd: the dataplane is not built yet; run with --no-dataplane to serve "
                 "the control API alone\n";
    return 1;
  }
  auto config = privlink::control::LoadDaemonConfig(options.config);
  if (!config.ok()) {
    std::cerr << "privlinkd: " << config.status().message() << "\n";
    return 1;
  }
  if (!options.state_dir.empty()) config->dataplane.state_dir = options.state_dir;
  if (!options.listen.empty()) config->dataplane.api_listen = options.listen;

  // Block the stop signals before any thread starts, so only sigtimedwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto service = privlink::control::ControlService::Start(*config, nullptr);
  if (!service.ok()) {
    std::cerr << "privlinkd: " << service.status().message() << "\n";
    return 1;
  }
  std::cerr << "privlinkd: control API listening on " << config->dataplane.api_listen
            << " (no dataplane)\n";
  const timespec poll_interval{0, kPollIntervalNs};
  while (sigtimedwait(&stop_signals, nullptr, &poll_interval) < 0) (*service)->Poll();
  (*service)->Stop();
  std::cerr << "privlinkd: stopped\n";
  return 0;
}
