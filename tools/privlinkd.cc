// privlinkd: the daemon.
//
//   privlinkd [EAL options] -- --config FILE [--state-dir DIR] [--listen ADDR] [--idle-sleep-us N]
//             [--audit-log FILE]
//   privlinkd --config FILE --no-dataplane ...     (the control API alone, no DPDK)
//
// main() parses options, wires the parts and runs the control thread's loop on the main lcore
// until SIGINT/SIGTERM (exit 0). Start-up failures print one line and exit 1.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_pdump.h>
#include <signal.h>
#include <atomic>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "control/api/control_service.h"
#include "control/config/daemon_config.h"
#include "dataplane/daemon/dataplane.h"
#include "dataplane/observe/telemetry.h"

namespace {

namespace po = boost::program_options;

// The control loop's pace when the dataplane has nothing for it: ARP answers and held packets
// wait at most this long. Housekeeping (snapshot reclamation) runs every kHousekeepingRounds.
constexpr long kControlPollNs = 200'000;
constexpr unsigned kHousekeepingRounds = 500;  // 100 ms
// Without a dataplane the loop only does housekeeping.
constexpr long kControlOnlyPollNs = 100'000'000;

struct Options {
  std::string config;
  bool no_dataplane = false;
  std::string state_dir;
  std::string listen;
  bool allow_remote_api = false;
  std::string api_token_file;
  uint32_t idle_sleep_us = 0;
  uint32_t test_idle_timeout_ms = 0;
  std::string audit_log;
};

// EAL options come before "--", ours after it; without "--" the whole command line is ours.
int SplitArguments(int argc, char** argv, std::vector<char*>& eal, std::vector<std::string>& own) {
  eal.push_back(argv[0]);
  int split = -1;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  }
  for (int i = 1; i < argc; ++i) {
    if (split < 0 || i > split) {
      own.emplace_back(argv[i]);
    } else if (i < split) {
      eal.push_back(argv[i]);
    }
  }
  return split;
}

int ParseOptions(const std::vector<std::string>& args, Options& options) {
  po::options_description description("privlinkd options");
  description.add_options()("help,h", "show usage")(
      "config", po::value<std::string>(&options.config), "config file (JSON)")(
      "no-dataplane", po::bool_switch(&options.no_dataplane), "run the control plane alone")(
      "state-dir", po::value<std::string>(&options.state_dir),
      "state directory (overrides dataplane.stateDir)")(
      "listen", po::value<std::string>(&options.listen),
      "API address host:port or unix:/path (overrides dataplane.api.listen)")(
      "allow-remote-api", po::bool_switch(&options.allow_remote_api),
      "let the API listen on a non-loopback address (needs a bearer token file)")(
      "api-token-file", po::value<std::string>(&options.api_token_file),
      "file with the bearer token API requests must carry (overrides dataplane.api.tokenFile)")(
      "idle-sleep-us", po::value<uint32_t>(&options.idle_sleep_us),
      "an idle worker sleeps this long after an empty poll (default 0: busy poll)")(
      "audit-log", po::value<std::string>(&options.audit_log),
      "append one line per connection created and ended to FILE (default: off)")(
      "test-idle-timeout-ms", po::value<uint32_t>(&options.test_idle_timeout_ms),
      "for tests: every service's established idle timeout and closing timeout, in ms (default: "
      "their own)");
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(description).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: privlinkd [EAL options] -- --config FILE [options]\n"
                   "       privlinkd --config FILE --no-dataplane [options]\n"
                << description;
      return 0;
    }
    if (options.config.empty()) throw po::error("--config is required");
  } catch (const po::error& e) {
    std::cerr << "privlinkd: " << e.what() << " (see --help)\n";
    return 2;
  }
  return -1;
}

bool StopRequested(const sigset_t& signals, long wait_ns) {
  const timespec wait{0, wait_ns};
  return sigtimedwait(&signals, nullptr, &wait) >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> eal_args;
  std::vector<std::string> own_args;
  SplitArguments(argc, argv, eal_args, own_args);
  Options options;
  if (const int rc = ParseOptions(own_args, options); rc >= 0) return rc;

  auto config = privlink::control::LoadDaemonConfig(options.config);
  if (!config.ok()) {
    std::cerr << "privlinkd: " << config.status().message() << "\n";
    return 1;
  }
  if (!options.state_dir.empty()) config->dataplane.state_dir = options.state_dir;
  if (!options.listen.empty()) config->dataplane.api_listen = options.listen;
  if (options.allow_remote_api) config->dataplane.api_allow_remote = true;
  if (!options.api_token_file.empty()) config->dataplane.api_token_file = options.api_token_file;
  config->dataplane.test_idle_timeout_ms = options.test_idle_timeout_ms;

  // Block the stop signals before any thread starts, so only sigtimedwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (!options.no_dataplane) {
    if (rte_eal_init(static_cast<int>(eal_args.size()), eal_args.data()) < 0) {
      std::cerr << "privlinkd: DPDK EAL initialisation failed: " << rte_strerror(rte_errno) << "\n";
      return 1;
    }
    // Lets dpdk-dumpcap attach through the shared config; without one (--no-shconf, --in-memory)
    // there is nothing to attach to: say so and go on (privlinkctl capture still works).
    if (rte_pdump_init() != 0) {
      std::cerr << "privlinkd: packet capture by dpdk-dumpcap unavailable: "
                << rte_strerror(rte_errno) << "\n";
    }
  }

  // The dataplane reports its statistics through the API, which starts first.
  struct DeferredStats final : privlink::control::StatsSource {
    const privlink::control::StatsSource* target = nullptr;
    nlohmann::json Stats() const override { return target ? target->Stats() : nullptr; }
    void CollectMetrics(prometheus::Registry& registry) const override {
      if (target) target->CollectMetrics(registry);
    }
  } stats;
  struct DeferredInspector final : privlink::control::DataplaneInspector {
    privlink::control::DataplaneInspector* target = nullptr;
    absl::Status Missing() const { return absl::UnavailableError("the dataplane is not running"); }
    absl::StatusOr<nlohmann::json> Flows(const privlink::control::FlowQuery& q) const override {
      return target ? target->Flows(q) : Missing();
    }
    absl::StatusOr<nlohmann::json> FlowCount(const privlink::control::FlowQuery& q) const override {
      return target ? target->FlowCount(q) : Missing();
    }
    absl::StatusOr<privlink::control::CaptureResult> Capture(
        const privlink::control::CaptureRequest& r) override {
      return target ? target->Capture(r) : Missing();
    }
  } inspector;
  // A NAT IP is removed only once the dataplane counts no flow on it; while the dataplane starts,
  // its workers may already create flows, so the count is refused until it answers itself.
  struct DeferredNatIpFlows final : privlink::control::NatIpFlowCounts {
    std::atomic<const privlink::control::NatIpFlowCounts*> target{nullptr};
    absl::StatusOr<uint64_t> FlowsOnNatIp(privlink::control::ServiceId s,
                                          size_t slot) const override {
      const privlink::control::NatIpFlowCounts* t = target.load();
      if (t == nullptr) return absl::UnavailableError("the dataplane is starting; try again");
      return t->FlowsOnNatIp(s, slot);
    }
  } nat_ip_flows;
  auto service = privlink::control::ControlService::Start(
      *config, &stats, options.no_dataplane ? nullptr : &inspector);
  if (!service.ok()) {
    std::cerr << "privlinkd: " << service.status().message() << "\n";
    if (!options.no_dataplane) rte_eal_cleanup();
    return 1;
  }

  if (options.no_dataplane) {
    std::cerr << "privlinkd: control API listening on " << config->dataplane.api_listen
              << " (no dataplane)\n";
    while (!StopRequested(stop_signals, kControlOnlyPollNs)) (*service)->Poll();
    (*service)->Stop();
    std::cerr << "privlinkd: stopped\n";
    return 0;
  }

  (*service)->control().SetNatIpFlowCounts(&nat_ip_flows);
  auto dataplane =
      privlink::dataplane::Dataplane::Start(config->dataplane, (*service)->control().publisher(),
                                            {.idle_sleep_us = options.idle_sleep_us,
                                             .audit_log_path = options.audit_log,
                                             .health_reports = &(*service)->control()});
  if (!dataplane.ok()) {
    std::cerr << "privlinkd: " << dataplane.status().message() << "\n";
    (*service)->Stop();
    rte_eal_cleanup();
    return 1;
  }
  stats.target = dataplane->get();
  auto telemetry = std::make_unique<privlink::dataplane::TelemetryRegistration>(
      [d = dataplane->get()] { return d->Sample(); });
  inspector.target = dataplane->get();
  nat_ip_flows.target = dataplane->get();
  std::cerr << "privlinkd: forwarding on " << (*dataplane)->port_count() << " ports with "
            << (*dataplane)->worker_count() << " workers (" << (*dataplane)->steering()
            << "); API on " << config->dataplane.api_listen << "\n";

  unsigned round = 0;
  for (;;) {
    // Busy rounds go on at once; an idle round waits for a signal for a short while.
    if ((*dataplane)->Poll() == 0 && StopRequested(stop_signals, kControlPollNs)) break;
    if (++round % kHousekeepingRounds == 0) {
      (*service)->Poll();
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) break;
    }
  }
  // The API first, so no request reads the dataplane while it goes.
  (*dataplane)->CancelCapture();
  (*service)->Stop();
  (*service)->control().SetNatIpFlowCounts(nullptr);
  nat_ip_flows.target = nullptr;
  stats.target = nullptr;
  telemetry.reset();
  inspector.target = nullptr;
  (*dataplane)->Stop();
  dataplane->reset();
  service->reset();
  rte_eal_cleanup();
  std::cerr << "privlinkd: stopped\n";
  return 0;
}
