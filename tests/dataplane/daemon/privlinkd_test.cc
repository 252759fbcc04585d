// privlinkd with its dataplane, the real binary (path in $PRIVLINKD), on virtual devices without
// hugepages: start-up failures end with one clear line and exit 1; a daemon on net_null ports
// (which receive a stream of all-zero frames) counts them under a named drop reason, reports
// its ports through GET /v1/stats, GET /metrics and DPDK telemetry, and stops cleanly (exit 0) on
// SIGTERM and SIGINT; privlinkctl capture writes those frames to a pcapng file (drops with their
// reason) that scapy reads back, and privlinkctl flows lists and counts (no flows: net_null sends
// no TCP).
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/cli/api_client.h"
#include "tests/control/framework/process_util.h"
#include "tests/control/framework/prometheus_text.h"
#include "tests/control/framework/test_util.h"
#include "tests/dataplane/framework/pcapng_reader.h"

namespace privlink::dataplane {
namespace {

using control::ApiClient;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace privlink::control::testing;

class PrivlinkdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = BinaryFromEnv("PRIVLINKD");
    ASSERT_FALSE(binary_.empty()) << "set PRIVLINKD to the privlinkd binary";
    char dir[] = "/tmp/privlinkd-dp-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    socket_ = dir_ + "/api.sock";
    config_ = json::parse(control::testing::kReferenceConfig);
    config_["dataplane"]["stateDir"] = "";
    config_["dataplane"]["flowTableSize"] = 4096;
    config_["dataplane"]["api"]["listen"] = "unix:" + socket_;
    config_["dataplane"]["ports"][0]["device"] = "net_null0";
    config_["dataplane"]["ports"][1]["device"] = "net_null1";
    config_["dataplane"]["ports"][1]["subnet"] = "192.168.10.1/24";
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitExitCode(pid_);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string FilePrefix() const { return "privlinkd-test-" + std::to_string(getpid()); }

  std::vector<std::string> Argv(const std::string& lcores, int memory_mb, bool telemetry = false) {
    const std::string path = dir_ + "/config.json";
    std::ofstream(path) << config_.dump(2);
    return {binary_,
            "-l",
            lcores,
            "--no-huge",
            "--no-pci",
            "--no-shconf",
            telemetry ? "--telemetry" : "--no-telemetry",
            "--log-level=*:error",
            "--file-prefix=" + FilePrefix(),
            "-m",
            std::to_string(memory_mb),
            "--",
            "--config",
            path,
            "--idle-sleep-us",
            "100"};
  }

  std::string binary_, dir_, socket_;
  json config_;
  pid_t pid_ = -1;
};

TEST_F(PrivlinkdTest, StartUpFailuresEndWithOneClearMessage) {
  struct Case {
    const char* description;
    std::function<void(json&)> change;
    std::string lcores;
    int memory_mb;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a device that does not exist",
       [](json& c) {
         c["dataplane"]["ports"][0]["device"] = "net_af_packet0,iface=privlink-no-such-if";
       },
       "0,1", 256, "port 'consumer0' (net_af_packet0,iface=privlink-no-such-if): cannot probe"},
      {"fewer worker lcores than workers", [](json&) {}, "0", 256, "worker lcores"},
      {"too little memory for the packet buffers", [](json&) {}, "0,1", 16, "cannot allocate"},
      {"a bad config", [](json& c) { c["dataplane"]["workers"] = "two"; }, "0,1", 256,
       "dataplane.workers"},
      {"a backend no provider port reaches",
       [](json& c) {
         c["dataplane"]["ports"][1].erase("subnet");
         c["dataplane"]["ports"][1].erase("gateway");
       },
       "0,1", 256,
       "privateLinkServices[0].backends[0].ip: backend 192.168.10.11 of private link service "
       "'fabrikam-api' is reachable through no provider port"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    json saved = config_;
    c.change(config_);
    const ProcessResult r = RunProcess(Argv(c.lcores, c.memory_mb), dir_);
    config_ = saved;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.err, Not(HasSubstr("forwarding")));
  }
}

TEST_F(PrivlinkdTest, ForwardsCountsAndStopsCleanly) {
  for (int signal : {SIGTERM, SIGINT}) {
    pid_ = Spawn(Argv("0,1", 256), "", dir_ + "/daemon.err");
    ApiClient client({true, "", 0, socket_});
    json dataplane;
    // net_null delivers 64-byte all-zero frames (ethertype 0) as fast as the worker polls.
    for (int i = 0; i < 500; ++i) {
      auto r = client.Call("GET", "/v1/stats");
      if (r.ok() && r->status == 200 && r->body["dataplane"].is_object() &&
          r->body["dataplane"]["drops"]["ethertype_unsupported"].get<uint64_t>() > 0) {
        dataplane = r->body["dataplane"];
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(dataplane.is_object()) << Slurp(dir_ + "/daemon.err");
    ASSERT_EQ(dataplane["ports"].size(), 2u);
    EXPECT_EQ(dataplane["ports"][0]["name"], "consumer0");
    EXPECT_EQ(dataplane["ports"][1]["role"], "provider");
    EXPECT_GT(dataplane["ports"][0]["rxPackets"].get<uint64_t>(), 0u);
    // Nothing of it is forwarded.
    EXPECT_EQ(dataplane["ports"][0]["txPackets"].get<uint64_t>() +
                  dataplane["ports"][1]["txPackets"].get<uint64_t>(),
              dataplane["ports"][1]["txPackets"].get<uint64_t>())
        << "only ARP announcements leave, on the provider port";
    EXPECT_EQ(dataplane["endpoints"][0]["name"], "contoso-pe");
    EXPECT_EQ(dataplane["natPorts"].size(), 2u);
    // privlinkctl stats shows the same as tables, with the drop reasons that counted.
    const std::string ctl = BinaryFromEnv("PRIVLINKCTL");
    ASSERT_FALSE(ctl.empty()) << "set PRIVLINKCTL to the privlinkctl binary";
    const ProcessResult shown = RunProcess({ctl, "--server", "unix:" + socket_, "stats"}, dir_);
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_THAT(shown.out, HasSubstr("PORTS"));
    EXPECT_THAT(shown.out, HasSubstr("contoso-pe"));
    EXPECT_THAT(shown.out, HasSubstr("ethertype_unsupported"));
    kill(pid_, signal);
    EXPECT_EQ(WaitExitCode(pid_), 0) << Slurp(dir_ + "/daemon.err");
    pid_ = -1;
    EXPECT_THAT(Slurp(dir_ + "/daemon.err"), HasSubstr("privlinkd: stopped"));
  }
}

// dataplane.flowSteering on devices that cannot take privlink's RSS key and redirection table
// (net_null has several queues and a redirection table, but no key to set): asked for, start fails
// naming the device, why and the fallback; not written, the ports run shared and say why; one
// worker needs no RSS.
TEST_F(PrivlinkdTest, FlowSteeringOnADeviceWithoutRss) {
  struct Case {
    const char* description;
    std::string steering;  // "" = not written
    uint32_t workers;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"asked for", "rss-port-choice", 2, 1,
       "port 'consumer0' (net_null0): its RSS key has 0 bytes, 16 are needed; flowSteering "
       "rss-port-choice needs every port to take privlink's RSS key and redirection table: set "
       "dataplane.flowSteering to shared to run without"},
      {"not written", "", 2, 0,
       "with 2 workers (flowSteering shared: port 'consumer0' (net_null0): its RSS key has 0 "
       "bytes, 16 are needed)"},
      {"shared", "shared", 2, 0, "with 2 workers (flowSteering shared)"},
      {"one worker", "rss-port-choice", 1, 0, "with 1 workers (flowSteering rss-port-choice)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    json saved = config_;
    config_["dataplane"]["workers"] = c.workers;
    if (!c.steering.empty()) config_["dataplane"]["flowSteering"] = c.steering;
    std::vector<std::string> argv = Argv("0,1", 256);
    // Two workers and the main lcore on this machine's cores, however few.
    argv[1] = "--lcores";
    argv[2] = "0@0,1@0,2@0";
    config_ = saved;
    const std::string err = dir_ + "/steering.err";
    pid_ = Spawn(argv, "", err);
    bool started = false;
    for (int i = 0; i < 500 && !started; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        EXPECT_EQ(c.exit_code, 1);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << Slurp(err);
        pid_ = -1;
        break;
      }
      started = Slurp(err).find("forwarding on") != std::string::npos;
      if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_THAT(Slurp(err), HasSubstr(c.message));
    if (pid_ > 0) {
      EXPECT_TRUE(started) << Slurp(err);
      EXPECT_EQ(c.exit_code, 0);
      kill(pid_, SIGTERM);
      EXPECT_EQ(WaitExitCode(pid_), 0) << Slurp(err);
      pid_ = -1;
    }
  }
}

// DPDK's runtime directory of a file prefix: where the telemetry socket is.
std::string RuntimeDir(const std::string& prefix) {
  if (getuid() == 0) return "/var/run/dpdk/" + prefix;
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  return std::string(xdg != nullptr ? xdg : "/tmp") + "/dpdk/" + prefix;
}

// One request on DPDK's telemetry socket (SOCK_SEQPACKET: one message per read), as
// dpdk-telemetry.py sends it. The server greets with its own info message first.
json Telemetry(const std::string& socket_path, const std::string& command) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  std::string reply(64 * 1024, '\0');
  json result;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      read(fd, reply.data(), reply.size()) > 0 &&
      write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
    const ssize_t n = read(fd, reply.data(), reply.size());
    if (n > 0) result = json::parse(reply.substr(0, static_cast<size_t>(n)), nullptr, false);
  }
  close(fd);
  return result;
}

std::set<std::string> MetricNamesIn(const std::string& expr) {
  std::set<std::string> names;
  const std::regex metric("privlink_[a-z_]+");
  for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
    names.insert(it->str());
  }
  return names;
}

TEST_F(PrivlinkdTest, MetricsTelemetryAndTheDashboardsQueries) {
  using privlink::testing::ParsePromText;
  using privlink::testing::PromText;
  pid_ = Spawn(Argv("0,1", 256, true), "", dir_ + "/daemon.err");
  httplib::Client client(socket_);
  client.set_address_family(AF_UNIX);
  const std::map<std::string, std::string> consumer_rx = {{"port", "consumer0"},
                                                          {"direction", "rx"}};
  std::vector<PromText> scrapes;
  for (int i = 0; i < 500 && scrapes.size() < 2; ++i) {
    auto r = client.Get("/metrics");
    if (r && r->status == 200) {
      PromText text = ParsePromText(r->body);
      if (text.Value("privlink_port_packets_total", consumer_rx).value_or(0) > 0 &&
          (scrapes.empty() || *text.Value("privlink_port_packets_total", consumer_rx) >
                                  *scrapes[0].Value("privlink_port_packets_total", consumer_rx))) {
        scrapes.push_back(std::move(text));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(scrapes.size(), 2u) << Slurp(dir_ + "/daemon.err");
  const PromText& last = scrapes[1];
  EXPECT_THAT(last.errors, ::testing::IsEmpty());
  for (const char* name :
       {"privlink_endpoint_bytes_total", "privlink_service_bytes_total",
        "privlink_endpoint_connections_total", "privlink_nat_ports_used",
        "privlink_nat_ports_capacity", "privlink_nat_ports_usage_ratio", "privlink_nat_ip_state",
        "privlink_nat_port_alloc_failures_total", "privlink_flows", "privlink_drops_total",
        "privlink_port_packets_total", "privlink_port_bytes_total",
        "privlink_worker_busy_cycles_total", "privlink_worker_cycles_total",
        "privlink_snapshot_generation", "privlink_api_request_duration_seconds"}) {
    EXPECT_TRUE(last.types.contains(name)) << name;
  }
  EXPECT_EQ(last.Value("privlink_endpoint_bytes_total",
                       {{"endpoint", "contoso-pe"}, {"direction", "in"}}),
            0);
  EXPECT_GT(*last.Value("privlink_drops_total", {{"reason", "ethertype_unsupported"}}), 0);
  EXPECT_EQ(
      last.Value("privlink_nat_ip_state",
                 {{"service", "fabrikam-api"}, {"nat_ip", "192.168.10.200"}, {"state", "active"}}),
      1);
  EXPECT_EQ(last.Value(
                "privlink_nat_ip_state",
                {{"service", "fabrikam-api"}, {"nat_ip", "192.168.10.200"}, {"state", "draining"}}),
            0);
  EXPECT_GT(*last.Value("privlink_nat_ports_capacity",
                        {{"service", "fabrikam-api"}, {"nat_ip", "192.168.10.200"}}),
            0);
  EXPECT_GT(*last.Value("privlink_worker_busy_cycles_total", {{"worker", "0"}}), 0);
  EXPECT_LE(*last.Value("privlink_worker_busy_cycles_total", {{"worker", "0"}}),
            *last.Value("privlink_worker_cycles_total", {{"worker", "0"}}));
  // Counters never go down between scrapes.
  for (const auto& before : scrapes[0].samples) {
    if (scrapes[0].TypeOf(before.name) != "counter") continue;
    ASSERT_TRUE(last.Value(before.name, before.labels)) << before.Series();
    EXPECT_GE(*last.Value(before.name, before.labels), before.value) << before.Series();
  }

  // Every metric the Grafana dashboard queries is one privlinkd exports.
  const std::string dashboard_path = BinaryFromEnv("PRIVLINK_DASHBOARD");
  const json dashboard = json::parse(Slurp(dashboard_path), nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << dashboard_path;
  size_t exprs = 0;
  const json& panels = dashboard["panels"];
  for (const json& panel : panels) {
    ASSERT_TRUE(panel.contains("targets")) << panel["title"];
    for (const json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      const std::set<std::string> names = MetricNamesIn(expr);
      EXPECT_FALSE(names.empty()) << expr;
      for (const std::string& name : names) EXPECT_TRUE(last.types.contains(name)) << expr;
      ++exprs;
    }
  }
  EXPECT_GE(exprs, 10u);

  // DPDK telemetry, as dpdk-telemetry.py asks it.
  const std::string socket_path = RuntimeDir(FilePrefix()) + "/dpdk_telemetry.v2";
  const json stats = Telemetry(socket_path, "/privlink/stats");
  ASSERT_TRUE(stats.is_object()) << socket_path;
  EXPECT_EQ(stats["/privlink/stats"]["workers"], 1);
  EXPECT_GT(stats["/privlink/stats"]["rx_packets"].get<uint64_t>(), 0u);
  EXPECT_GT(stats["/privlink/stats"]["drops_ethertype_unsupported"].get<uint64_t>(), 0u);
  const json flows = Telemetry(socket_path, "/privlink/flows");
  EXPECT_EQ(flows["/privlink/flows"]["total"], 0);
  EXPECT_TRUE(flows["/privlink/flows"].contains("established"));
  const json nat = Telemetry(socket_path, "/privlink/nat_ports")["/privlink/nat_ports"];
  EXPECT_EQ(nat["service"], json({"fabrikam-api", "fabrikam-api"}));
  EXPECT_EQ(nat["nat_ip"], json({"192.168.10.200", "192.168.10.201"}));
  EXPECT_EQ(nat["used"], json({0, 0}));

  kill(pid_, SIGTERM);
  EXPECT_EQ(WaitExitCode(pid_), 0) << Slurp(dir_ + "/daemon.err");
  pid_ = -1;
  std::filesystem::remove_all(RuntimeDir(FilePrefix()));
}

TEST_F(PrivlinkdTest, CaptureAndFlowsThroughPrivlinkctl) {
  std::vector<std::string> argv = Argv("0,1", 256);
  argv.push_back("--audit-log");
  argv.push_back(dir_ + "/audit.log");
  pid_ = Spawn(argv, "", dir_ + "/daemon.err");
  const std::string ctl = BinaryFromEnv("PRIVLINKCTL");
  ASSERT_FALSE(ctl.empty()) << "set PRIVLINKCTL to the privlinkctl binary";
  auto run_ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {ctl, "--server", "unix:" + socket_});
    return RunProcess(args, dir_);
  };
  ProcessResult count;
  for (int i = 0; i < 500; ++i) {
    count = run_ctl({"-o", "json", "flows", "count"});
    if (count.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(count.exit_code, 0) << count.err << Slurp(dir_ + "/daemon.err");
  EXPECT_EQ(json::parse(count.out)["total"], 0);
  const ProcessResult flows = run_ctl({"-o", "json", "flows", "--limit", "5"});
  ASSERT_EQ(flows.exit_code, 0) << flows.err;
  EXPECT_EQ(json::parse(flows.out)["value"], json::array());
  const ProcessResult unknown = run_ctl({"flows", "--endpoint", "no-such-pe"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("'no-such-pe' not found"));

  // net_null's all-zero frames: received on consumer0, and dropped there as ethertype_unsupported.
  const std::string rx_file = dir_ + "/rx.pcapng", drop_file = dir_ + "/drop.pcapng";
  const ProcessResult rx =
      run_ctl({"capture", "--port", "consumer0", "--dir", "rx", "--count", "5", "-w", rx_file});
  ASSERT_EQ(rx.exit_code, 0) << rx.err;
  EXPECT_THAT(rx.out, HasSubstr("5 packets written to " + rx_file));
  const ProcessResult drop = run_ctl({"capture", "--port", "consumer0", "--dir", "drop", "--count",
                                      "3", "--snaplen", "20", "-w", drop_file});
  ASSERT_EQ(drop.exit_code, 0) << drop.err;
  const auto rx_pcap = testing::ReadPcapng(Slurp(rx_file));
  const auto drop_pcap = testing::ReadPcapng(Slurp(drop_file));
  ASSERT_TRUE(rx_pcap && drop_pcap);
  ASSERT_EQ(rx_pcap->packets.size(), 5u);
  EXPECT_EQ(rx_pcap->packets[0].data, std::vector<uint8_t>(64, 0));
  ASSERT_EQ(drop_pcap->packets.size(), 3u);
  EXPECT_EQ(drop_pcap->packets[2].data.size(), 20u);
  EXPECT_EQ(drop_pcap->packets[2].original_len, 64u);
  EXPECT_THAT(drop_pcap->packets[2].comment, HasSubstr("drop: ethertype_unsupported"));
  // Independent readers: tcpdump (libpcap) and scapy, when installed, see the packets and
  // scapy also the comment. (A pyenv python3 may not see Debian's python3-scapy: try both.)
  if (std::filesystem::exists("/usr/bin/tcpdump")) {
    const ProcessResult td = RunProcess({"/usr/bin/tcpdump", "-nn", "-r", rx_file}, dir_);
    EXPECT_EQ(td.exit_code, 0) << td.err;
    EXPECT_EQ(std::count(td.out.begin(), td.out.end(), '\n'), 5) << td.out;
  }
  for (const std::string python : {"python3", "/usr/bin/python3"}) {
    if (RunProcess({python, "-c", "import scapy"}, dir_).exit_code != 0) continue;
    const ProcessResult scapy =
        RunProcess({python, "-c",
                    "import sys\nfrom scapy.all import rdpcap\np = rdpcap(sys.argv[1])\n"
                    "print(len(p), p[0].comment.decode())",
                    drop_file},
                   dir_);
    EXPECT_EQ(scapy.exit_code, 0) << scapy.err;
    EXPECT_THAT(scapy.out, HasSubstr("3 drop: ethertype_unsupported"));
    break;
  }

  const ProcessResult bad = run_ctl(
      {"capture", "--port", "nope", "--dir", "rx", "--count", "1", "-w", dir_ + "/x.pcapng"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("port 'nope' not found"));
  kill(pid_, SIGTERM);
  EXPECT_EQ(WaitExitCode(pid_), 0) << Slurp(dir_ + "/daemon.err");
  pid_ = -1;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/audit.log"));
}

}  // namespace
}  // namespace privlink::dataplane
