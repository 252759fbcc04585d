#include "control/cli/cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>

#include "absl/strings/escaping.h"
#include "control/api/api_access.h"
#include "control/api/dataplane_inspector.h"
#include "control/api/listen_address.h"
#include "control/cli/api_client.h"
#include "control/cli/cli_stats.h"
#include "control/cli/cli_table.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

namespace po = boost::program_options;
using nlohmann::json;

constexpr char kDefaultServer[] = "127.0.0.1:9180";

// Bad command-line input: reported with usage, exit status 2.
struct UsageError {
  std::string message;
};

struct Context {
  ApiClient& client;
  bool json_output;
  std::ostream& out;
  std::ostream& err;
};

using Printer = std::function<void(const json&, std::ostream&)>;

// The API's successful reply, or nullopt after printing why the call failed (transport or API).
std::optional<ApiResponse> CallOk(Context& ctx, const std::string& method, const std::string& path,
                                  const std::optional<json>& body) {
  auto response = ctx.client.Call(method, path, body);
  if (!response.ok()) {
    ctx.err << "privlinkctl: " << response.status().message() << "\n";
    return std::nullopt;
  }
  if (!response->ok()) {
    ctx.err << "privlinkctl: error: " << response->ErrorMessage() << "\n";
    return std::nullopt;
  }
  return std::move(*response);
}

// Prints a successful reply (raw JSON with -o json, else through `printer`), or the API's error.
int Report(Context& ctx, const std::string& method, const std::string& path,
           const std::optional<json>& body, const Printer& printer) {
  const std::optional<ApiResponse> response = CallOk(ctx, method, path, body);
  if (!response) return kCliFailed;
  if (response->body.is_null()) return kCliOk;  // 204: nothing to show
  if (ctx.json_output) {
    ctx.out << response->body.dump(2) << "\n";
  } else {
    printer(response->body, ctx.out);
  }
  return kCliOk;
}

// GETs the collection at `path` and every page after it (following "nextLink", asking for
// `page_size` items a page when given) and prints the items as one {"value": [...]} list.
int ReportList(Context& ctx, const std::string& path, std::optional<int> page_size,
               const Printer& printer) {
  std::string next = page_size ? Cat(path, "?$top=", *page_size) : path;
  json items = json::array();
  while (true) {
    const std::optional<ApiResponse> response = CallOk(ctx, "GET", next, std::nullopt);
    if (!response) return kCliFailed;
    const json& body = response->body;
    if (!body.is_object() || !body.contains("value") || !body["value"].is_array()) {
      ctx.err << "privlinkctl: the reply to GET " << next << " has no \"value\" list\n";
      return kCliFailed;
    }
    for (const json& item : body["value"]) items.push_back(item);
    if (!body.contains("nextLink")) break;
    if (!body["nextLink"].is_string() || body["nextLink"].get<std::string>() == next) {
      ctx.err << "privlinkctl: the reply to GET " << next << " has an unusable nextLink "
              << body["nextLink"].dump() << "\n";
      return kCliFailed;
    }
    next = body["nextLink"].get<std::string>();
  }
  const json all = {{"value", std::move(items)}};
  if (ctx.json_output) {
    ctx.out << all.dump(2) << "\n";
  } else {
    printer(all, ctx.out);
  }
  return kCliOk;
}

// A list command's --page-size: the API's $top, 1..1000.
void AddPageSizeOption(po::options_description& d) {
  d.add_options()("page-size", po::value<int>(),
                  "items asked for per request (the API's $top, 1..1000; default 1000)");
}

std::optional<int> PageSize(const po::variables_map& vm) {
  if (!vm.count("page-size")) return std::nullopt;
  const int size = vm["page-size"].as<int>();
  if (size < 1 || size > 1000) throw UsageError{"--page-size: must be 1..1000"};
  return size;
}

void PrintObject(const json& body, std::ostream& out) {
  PrintKeyValues(body, out);
}

// The cell of `field` in `item`, where "a.b" is field b of the object in field a; "-" if absent.
std::string FieldCell(const json& item, std::string_view field) {
  const json* value = &item;
  while (true) {
    const size_t dot = field.find('.');
    const std::string key(field.substr(0, dot));
    if (!value->is_object() || !value->contains(key)) return "-";
    value = &(*value)[key];
    if (dot == std::string_view::npos) return Cell(*value);
    field.remove_prefix(dot + 1);
  }
}

// A table of the "value" list with the given (header, field) columns.
Printer ListPrinter(std::vector<std::pair<std::string, std::string>> columns) {
  return [columns](const json& body, std::ostream& out) {
    std::vector<std::string> headers;
    for (const auto& [header, field] : columns) headers.push_back(header);
    Table table(headers);
    for (const json& item : body.value("value", json::array())) {
      std::vector<std::string> row;
      for (const auto& [header, field] : columns) row.push_back(FieldCell(item, field));
      table.AddRow(std::move(row));
    }
    table.Print(out);
  };
}

template <typename T>
std::optional<T> Opt(const po::variables_map& vm, const char* name) {
  if (!vm.count(name)) return std::nullopt;
  return vm[name].as<T>();
}

std::string Required(const po::variables_map& vm, const char* name) {
  if (!vm.count(name)) throw UsageError{Cat("--", name, " is required")};
  return vm[name].as<std::string>();
}

std::vector<std::string> Strings(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
}

int ParsePort(std::string_view text, std::string_view what) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != text.npos) {
    throw UsageError{Cat("invalid port '", text, "' in ", what)};
  }
  return std::stoi(std::string(text));
}

// "80:8080" or "80" (same port on the backend), then "/tcp" (the default) or "/udp".
json ParseRule(const std::string& text) {
  const size_t slash = text.find('/');
  const std::string ports = text.substr(0, slash);
  const std::string protocol = slash == std::string::npos ? "tcp" : text.substr(slash + 1);
  if (protocol != "tcp" && protocol != "udp") {
    throw UsageError{Cat("invalid protocol '", protocol, "' in --rule ", text, " (tcp or udp)")};
  }
  const size_t colon = ports.find(':');
  const int frontend = ParsePort(ports.substr(0, colon), Cat("--rule ", text));
  const int backend = colon == std::string::npos
                          ? frontend
                          : ParsePort(ports.substr(colon + 1), Cat("--rule ", text));
  return {{"frontendPort", frontend}, {"backendPort", backend}, {"protocol", protocol}};
}

// "IP", "IP:WEIGHT", "IP:draining" or "IP:WEIGHT:draining".
json ParseBackend(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ':');) parts.push_back(part);
  if (parts.empty() || parts.size() > 3) throw UsageError{Cat("invalid --backend '", text, "'")};
  json backend = {{"ip", parts[0]}};
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "draining" || parts[i] == "active") {
      backend["state"] = parts[i];
    } else if (!parts[i].empty() && parts[i].size() <= 3 &&
               parts[i].find_first_not_of("0123456789") == std::string::npos) {
      backend["weight"] = std::stoi(parts[i]);
    } else {
      throw UsageError{Cat("invalid --backend '", text, "' (want IP[:WEIGHT][:draining])")};
    }
  }
  return backend;
}

// --probe tcp:PORT | http:PORT/PATH
json ParseProbe(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string protocol = text.substr(0, colon);
  if (colon == std::string::npos || (protocol != "tcp" && protocol != "http")) {
    throw UsageError{Cat("invalid --probe '", text, "' (want tcp:PORT, http:PORT/PATH or none)")};
  }
  const size_t slash = text.find('/', colon);
  const std::string port =
      text.substr(colon + 1, slash == std::string::npos ? slash : slash - colon - 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError{Cat("invalid --probe '", text, "': the port must be a number")};
  }
  json probe = {{"protocol", protocol}, {"port", std::stoi(port)}};
  if (slash != std::string::npos) probe["path"] = text.substr(slash);
  return probe;
}

void AddServiceOptions(po::options_description& d) {
  d.add_options()("subscription", po::value<std::string>(), "owner subscription")(
      "rule", po::value<std::vector<std::string>>()->composing(),
      "load-balancing rule FRONTEND[:BACKEND][/tcp|/udp] (repeatable)")(
      "backend", po::value<std::vector<std::string>>()->composing(),
      "backend IP[:WEIGHT][:draining] (repeatable)")(
      "nat-ip", po::value<std::vector<std::string>>()->composing(), "NAT IP (repeatable)")(
      "draining-nat-ip", po::value<std::vector<std::string>>()->composing(),
      "NAT IP that takes no new flow (repeatable; none: every NAT IP takes new flows)")(
      "visibility", po::value<std::vector<std::string>>()->composing(),
      "subscription allowed to connect, or * (repeatable; default: owner only)")(
      "auto-approval", po::value<std::vector<std::string>>()->composing(),
      "subscription approved automatically (repeatable)")(
      "fqdn", po::value<std::vector<std::string>>()->composing(), "DNS name (repeatable)")(
      "idle-timeout", po::value<int>(), "TCP idle timeout in minutes (4..124)")(
      "udp-idle-timeout", po::value<int>(), "UDP idle timeout in seconds (120..86400)")(
      "teardown", po::value<std::string>(), "reset|drain: ending an approved connection")(
      "tcp-reset", po::value<bool>(), "true|false: reset established flows at their idle timeout")(
      "proxy-protocol", po::value<bool>(),
      "true|false: a PROXY protocol v2 header with the endpoint's LinkID starts each connection")(
      "probe", po::value<std::string>(), "backend health probe: tcp:PORT, http:PORT/PATH, or none")(
      "probe-interval", po::value<int>(), "seconds between probes (1..300, default 5)")(
      "probe-timeout", po::value<int>(), "seconds a probe may take (1..interval)")(
      "probe-unhealthy", po::value<int>(),
      "failures in a row that mark a backend down (default 2)")(
      "probe-healthy", po::value<int>(), "successes in a row that bring it back (default 2)")(
      "probe-on-down", po::value<std::string>(), "keep|reset: a down backend's established flows");
}

// The probe options: --probe replaces the probe (or removes it), the others change one field.
void ApplyProbeOptions(const po::variables_map& vm, json& body) {
  if (auto v = Opt<std::string>(vm, "probe")) {
    if (*v == "none") {
      body.erase("probe");
    } else {
      body["probe"] = ParseProbe(*v);
    }
  }
  const std::pair<const char*, const char*> numbers[] = {{"probe-interval", "intervalSeconds"},
                                                         {"probe-timeout", "timeoutSeconds"},
                                                         {"probe-unhealthy", "unhealthyThreshold"},
                                                         {"probe-healthy", "healthyThreshold"}};
  const bool any = vm.count("probe-on-down") != 0 ||
                   std::any_of(std::begin(numbers), std::end(numbers),
                               [&](const auto& n) { return vm.count(n.first) != 0; });
  if (!any) return;
  if (!body.contains("probe")) throw UsageError{"the --probe-* options need a probe (--probe)"};
  for (const auto& [option, field] : numbers) {
    if (auto v = Opt<int>(vm, option)) body["probe"][field] = *v;
  }
  if (auto v = Opt<std::string>(vm, "probe-on-down")) body["probe"]["onDown"] = *v;
}

// Sets the body fields for the options given; others stay as they are.
void ApplyServiceOptions(const po::variables_map& vm, json& body) {
  if (auto v = Opt<std::string>(vm, "subscription")) body["subscription"] = *v;
  if (vm.count("rule")) {
    body["loadBalancingRules"] = json::array();
    for (const auto& r : Strings(vm, "rule")) body["loadBalancingRules"].push_back(ParseRule(r));
  }
  if (vm.count("backend")) {
    body["backends"] = json::array();
    for (const auto& b : Strings(vm, "backend")) body["backends"].push_back(ParseBackend(b));
  }
  if (vm.count("nat-ip")) {
    body["natIps"] = Strings(vm, "nat-ip");
    // A NAT IP left out of the list leaves the draining list too (removing a drained IP).
    if (body.contains("drainingNatIps") && !vm.count("draining-nat-ip")) {
      json kept = json::array();
      for (const json& ip : body["drainingNatIps"]) {
        if (std::find(body["natIps"].begin(), body["natIps"].end(), ip) != body["natIps"].end()) {
          kept.push_back(ip);
        }
      }
      body["drainingNatIps"] = std::move(kept);
    }
  }
  if (vm.count("draining-nat-ip")) {
    std::vector<std::string> draining = Strings(vm, "draining-nat-ip");
    if (draining == std::vector<std::string>{"none"}) draining.clear();
    body["drainingNatIps"] = draining;
  }
  if (vm.count("visibility")) body["visibility"] = Strings(vm, "visibility");
  if (vm.count("auto-approval")) body["autoApproval"] = Strings(vm, "auto-approval");
  if (vm.count("fqdn")) body["fqdns"] = Strings(vm, "fqdn");
  if (auto v = Opt<int>(vm, "idle-timeout")) body["idleTimeoutMinutes"] = *v;
  if (auto v = Opt<int>(vm, "udp-idle-timeout")) body["udpIdleTimeoutSeconds"] = *v;
  if (auto v = Opt<std::string>(vm, "teardown")) body["connectionTeardown"] = *v;
  if (auto v = Opt<bool>(vm, "tcp-reset")) body["enableTcpReset"] = *v;
  if (auto v = Opt<bool>(vm, "proxy-protocol")) body["enableProxyProtocol"] = *v;
  ApplyProbeOptions(vm, body);
}

struct Command {
  std::string usage;  // after "privlinkctl GROUP VERB"
  std::function<void(po::options_description&)> options;
  std::function<int(const po::variables_map&, Context&)> run;
};

std::string Path(std::string_view collection, std::string_view name) {
  return Cat("/v1/", collection, "/", name);
}

// "?endpoint=E&service=S&limit=N" from whichever of the options were given.
std::string FlowQueryString(const po::variables_map& vm, bool with_limit) {
  std::string q;
  auto add = [&q](const char* key, const std::string& value) {
    q += Cat(q.empty() ? "?" : "&", key, "=", value);
  };
  if (auto e = Opt<std::string>(vm, "endpoint")) add("endpoint", *e);
  if (auto s = Opt<std::string>(vm, "service")) add("service", *s);
  if (with_limit) {
    if (auto n = Opt<uint32_t>(vm, "limit")) add("limit", std::to_string(*n));
  }
  return q;
}

void PrintFlows(const json& body, std::ostream& out) {
  ListPrinter({{"ENDPOINT", "endpoint"},
               {"NETWORK", "network"},
               {"PROTO", "protocol"},
               {"CLIENT", "client"},
               {"NAT", "nat"},
               {"BACKEND", "backend"},
               {"STATE", "state"},
               {"AGE(S)", "ageSeconds"},
               {"IDLE(S)", "idleSeconds"},
               {"BYTES-OUT", "bytesOut"},
               {"BYTES-IN", "bytesIn"}})(body, out);
  if (body.value("truncated", false)) out << "(more flows match: raise --limit)\n";
}

// Writes the capture the API returned (base64 in "pcapng") to `file`.
int WriteCapture(Context& ctx, const json& request, const std::string& file) {
  const std::optional<ApiResponse> response = CallOk(ctx, "POST", "/v1/capture", request);
  if (!response) return kCliFailed;
  std::string bytes;
  if (!absl::Base64Unescape(response->body.value("pcapng", ""), &bytes)) {
    ctx.err << "privlinkctl: the capture in the reply is not valid base64\n";
    return kCliFailed;
  }
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) {
    ctx.err << "privlinkctl: cannot write " << file << "\n";
    return kCliFailed;
  }
  json summary = response->body;
  summary.erase("pcapng");
  summary["file"] = file;
  if (ctx.json_output) {
    ctx.out << summary.dump(2) << "\n";
  } else {
    ctx.out << summary.value("packets", 0) << " packets written to " << file;
    if (summary.value("skipped", 0) != 0) {
      ctx.out << " (" << summary.value("skipped", 0) << " skipped: capture buffer full)";
    }
    if (summary.value("timedOut", false)) ctx.out << " (timed out before --count)";
    ctx.out << "\n";
  }
  return kCliOk;
}

void AddInspectCommands(std::map<std::string, Command>& c) {
  auto filter_options = [](po::options_description& d) {
    d.add_options()("endpoint", po::value<std::string>(), "only flows of this private endpoint")(
        "service", po::value<std::string>(), "only flows of this private link service");
  };
  c["flows"] = {"[--endpoint NAME] [--service NAME] [--limit N]",
                [filter_options](po::options_description& d) {
                  filter_options(d);
                  d.add_options()("limit", po::value<uint32_t>(),
                                  Cat("at most N flows (default ", kDefaultFlowLimit, ")").c_str());
                },
                [](const po::variables_map& vm, Context& ctx) {
                  return Report(ctx, "GET", "/v1/flows" + FlowQueryString(vm, true), std::nullopt,
                                PrintFlows);
                }};
  c["flows count"] = {"[--endpoint NAME] [--service NAME]", filter_options,
                      [](const po::variables_map& vm, Context& ctx) {
                        return Report(ctx, "GET", "/v1/flows/count" + FlowQueryString(vm, false),
                                      std::nullopt, PrintObject);
                      }};
  c["capture"] = {
      "--port NAME --dir rx|tx|drop --count N -w FILE [--snaplen N] [--timeout SECONDS]",
      [](po::options_description& d) {
        d.add_options()("port", po::value<std::string>(), "dataplane port name")(
            "dir", po::value<std::string>(), "rx, tx or drop (dropped frames, with the reason)")(
            "count", po::value<uint32_t>(), "stop after N packets")(
            "write,w", po::value<std::string>(), "pcapng file to write")(
            "snaplen", po::value<uint32_t>(), "bytes kept per packet (default all)")(
            "timeout", po::value<uint32_t>(),
            Cat("stop after this many seconds (default ", kDefaultCaptureTimeoutSeconds, ")")
                .c_str());
      },
      [](const po::variables_map& vm, Context& ctx) {
        const std::string dir = Required(vm, "dir");
        if (dir != "rx" && dir != "tx" && dir != "drop") {
          throw UsageError{"--dir must be rx, tx or drop"};
        }
        if (!vm.count("count")) throw UsageError{"--count is required"};
        const std::string file = Required(vm, "write");
        const uint32_t timeout =
            Opt<uint32_t>(vm, "timeout").value_or(kDefaultCaptureTimeoutSeconds);
        json request = {{"port", Required(vm, "port")},
                        {"direction", dir},
                        {"count", vm["count"].as<uint32_t>()},
                        {"timeoutSeconds", timeout}};
        if (auto n = Opt<uint32_t>(vm, "snaplen")) request["snaplen"] = *n;
        // The reply comes when the capture ends: allow its whole timeout and a margin.
        constexpr time_t kReplyMarginSeconds = 30;
        ctx.client.SetReadTimeout(timeout + kReplyMarginSeconds);
        return WriteCapture(ctx, request, file);
      }};
}

std::map<std::string, Command> Commands() {
  std::map<std::string, Command> c;
  auto no_options = [](po::options_description&) {};
  auto name_option = [](po::options_description& d) {
    d.add_options()("name,n", po::value<std::string>(), "resource name");
  };
  const Printer networks = ListPrinter({{"NAME", "name"},
                                        {"PORT", "port"},
                                        {"VLAN", "vlan"},
                                        {"VNI", "vxlan.vni"},
                                        {"LOCAL IP", "vxlan.localIp"},
                                        {"ID", "id"}});
  const Printer services = ListPrinter({{"NAME", "name"},
                                        {"SUBSCRIPTION", "subscription"},
                                        {"ALIAS", "alias"},
                                        {"NAT IPS", "natIps"},
                                        {"DRAINING", "drainingNatIps"},
                                        {"VISIBILITY", "visibility"},
                                        {"ID", "id"}});
  const Printer endpoints = ListPrinter({{"NAME", "name"},
                                         {"SUBSCRIPTION", "subscription"},
                                         {"NETWORK", "network"},
                                         {"IP", "ip"},
                                         {"SERVICE", "privateLinkService"},
                                         {"STATUS", "connectionStatus"},
                                         {"ID", "id"}});
  const Printer connections = ListPrinter({{"PRIVATE ENDPOINT", "privateEndpoint"},
                                           {"SUBSCRIPTION", "subscription"},
                                           {"STATUS", "status"},
                                           {"REQUEST MESSAGE", "requestMessage"},
                                           {"DESCRIPTION", "description"}});

  // Resource groups sharing show/list/delete.
  const std::pair<std::string, std::pair<std::string, Printer>> groups[] = {
      {"network", {"networks", networks}},
      {"service", {"privateLinkServices", services}},
      {"endpoint", {"privateEndpoints", endpoints}},
  };
  for (const auto& [group, info] : groups) {
    const std::string collection = info.first;
    const Printer list_printer = info.second;
    c[group + " show"] = {"NAME", name_option,
                          [collection](const po::variables_map& vm, Context& ctx) {
                            return Report(ctx, "GET", Path(collection, Required(vm, "name")),
                                          std::nullopt, PrintObject);
                          }};
    c[group + " list"] = {"[--page-size N]", AddPageSizeOption,
                          [collection, list_printer](const po::variables_map& vm, Context& ctx) {
                            return ReportList(ctx, Cat("/v1/", collection), PageSize(vm),
                                              list_printer);
                          }};
    c[group + " delete"] = {"NAME", name_option,
                            [collection](const po::variables_map& vm, Context& ctx) {
                              return Report(ctx, "DELETE", Path(collection, Required(vm, "name")),
                                            std::nullopt, PrintObject);
                            }};
  }

  c["network create"] = {"NAME --port PORT [--vlan VLAN | --vni VNI --local-ip IP]",
                         [&](po::options_description& d) {
                           name_option(d);
                           d.add_options()("port", po::value<std::string>(), "consumer port name")(
                               "vlan", po::value<int>(), "VLAN id, 0 = untagged (the default)")(
                               "vni", po::value<uint32_t>(),
                               "VXLAN network identifier, instead of a VLAN")(
                               "local-ip", po::value<std::string>(),
                               "with --vni: privlinkd's VXLAN address on the port");
                         },
                         [](const po::variables_map& vm, Context& ctx) {
                           const std::string name = Required(vm, "name");
                           json body = {{"name", name}, {"port", Required(vm, "port")}};
                           if (vm.count("vni") || vm.count("local-ip")) {
                             if (vm.count("vlan")) {
                               throw UsageError{"--vlan and --vni are exclusive"};
                             }
                             if (!vm.count("vni")) throw UsageError{"--local-ip needs --vni"};
                             body["vxlan"] = {{"vni", vm["vni"].as<uint32_t>()},
                                              {"localIp", Required(vm, "local-ip")}};
                           } else {
                             body["vlan"] = Opt<int>(vm, "vlan").value_or(0);
                           }
                           return Report(ctx, "PUT", Path("networks", name), body, PrintObject);
                         }};
  c["service create"] = {
      "NAME --subscription SUB --rule 80:8080 --nat-ip IP [--backend IP[:W]] ...",
      [&](po::options_description& d) {
        name_option(d);
        AddServiceOptions(d);
      },
      [](const po::variables_map& vm, Context& ctx) {
        const std::string name = Required(vm, "name");
        json body = {{"name", name}};
        ApplyServiceOptions(vm, body);
        return Report(ctx, "PUT", Path("privateLinkServices", name), body, PrintObject);
      }};
  c["service update"] = {
      "NAME [options to change; a list option replaces the whole list]",
      [&](po::options_description& d) {
        name_option(d);
        AddServiceOptions(d);
      },
      [](const po::variables_map& vm, Context& ctx) {
        const std::string path = Path("privateLinkServices", Required(vm, "name"));
        auto current = ctx.client.Call("GET", path);
        if (!current.ok() || !current->ok()) {
          return Report(ctx, "GET", path, std::nullopt, PrintObject);  // reports the error
        }
        json body = current->body;
        // Sending the connections back would re-assert statuses that may have changed since.
        body.erase("privateEndpointConnections");
        ApplyServiceOptions(vm, body);
        return Report(ctx, "PUT", path, body, PrintObject);
      }};
  c["endpoint create"] = {
      "NAME --subscription SUB --network NET --ip IP --service ALIAS|NAME [--request-message M]",
      [&](po::options_description& d) {
        name_option(d);
        d.add_options()("subscription", po::value<std::string>(), "consumer subscription")(
            "network", po::value<std::string>(), "consumer network")("ip", po::value<std::string>(),
                                                                     "endpoint IP in the network")(
            "service", po::value<std::string>(), "private link service alias or name")(
            "request-message", po::value<std::string>(), "message to the provider");
      },
      [](const po::variables_map& vm, Context& ctx) {
        const std::string name = Required(vm, "name");
        json body = {{"name", name},
                     {"subscription", Required(vm, "subscription")},
                     {"network", Required(vm, "network")},
                     {"ip", Required(vm, "ip")},
                     {"privateLinkService", Required(vm, "service")}};
        if (auto m = Opt<std::string>(vm, "request-message")) body["requestMessage"] = *m;
        return Report(ctx, "PUT", Path("privateEndpoints", name), body, PrintObject);
      }};

  auto connection_options = [&](po::options_description& d) {
    name_option(d);
    d.add_options()("service", po::value<std::string>(), "private link service name")(
        "description", po::value<std::string>(), "note for the endpoint's owner");
  };
  auto connection_path = [](const po::variables_map& vm) {
    return Cat(Path("privateLinkServices", Required(vm, "service")), "/privateEndpointConnections/",
               Required(vm, "name"));
  };
  c["connection list"] = {
      "--service SERVICE [--page-size N]",
      [](po::options_description& d) {
        d.add_options()("service", po::value<std::string>(), "private link service name");
        AddPageSizeOption(d);
      },
      [connections](const po::variables_map& vm, Context& ctx) {
        return ReportList(ctx,
                          Cat(Path("privateLinkServices", Required(vm, "service")),
                              "/privateEndpointConnections"),
                          PageSize(vm), connections);
      }};
  for (const std::string verb : {"approve", "reject"}) {
    c["connection " + verb] = {
        "ENDPOINT --service SERVICE [--description TEXT]", connection_options,
        [verb, connection_path](const po::variables_map& vm, Context& ctx) {
          json body = json::object();
          if (auto d = Opt<std::string>(vm, "description")) body["description"] = *d;
          return Report(ctx, "POST", Cat(connection_path(vm), "/", verb), body, PrintObject);
        }};
  }
  c["connection delete"] = {"ENDPOINT --service SERVICE", connection_options,
                            [connection_path](const po::variables_map& vm, Context& ctx) {
                              return Report(ctx, "DELETE", connection_path(vm), std::nullopt,
                                            PrintObject);
                            }};

  c["apply"] = {
      "-f FILE",
      [](po::options_description& d) {
        d.add_options()("file,f", po::value<std::string>(), "config document (JSON)");
      },
      [](const po::variables_map& vm, Context& ctx) {
        const std::string file = Required(vm, "file");
        std::ifstream in(file);
        if (!in) {
          ctx.err << "privlinkctl: cannot read " << file << "\n";
          return kCliFailed;
        }
        std::stringstream text;
        text << in.rdbuf();
        json document;
        if (auto s = ParseJson(text.str(), document); !s.ok()) {
          ctx.err << "privlinkctl: " << file << ": " << s.message() << "\n";
          return kCliFailed;
        }
        return Report(ctx, "POST", "/v1/apply", document, [](const json& body, std::ostream& out) {
          out << "applied: " << body.value("created", 0) << " created, " << body.value("updated", 0)
              << " updated, " << body.value("unchanged", 0) << " unchanged\n";
        });
      }};
  // GET `path` and write its reply as it came to `file` (stdout when empty): through a temporary
  // file renamed at the end, so a cut transfer never leaves a partial file under that name.
  auto save = [](Context& ctx, const std::string& path, const std::string& file) {
    auto reply = ctx.client.GetRaw(path);
    if (!reply.ok()) {
      ctx.err << "privlinkctl: " << reply.status().message() << "\n";
      return kCliFailed;
    }
    if (!reply->message.empty()) {
      ctx.err << "privlinkctl: error: " << reply->message << "\n";
      return kCliFailed;
    }
    if (file.empty()) {
      ctx.out << reply->body;
      return kCliOk;
    }
    const std::string temp = file + ".partial";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << reply->body;
      out.close();
      if (!out) {
        ctx.err << "privlinkctl: cannot write " << temp << "\n";
        return kCliFailed;
      }
    }
    if (std::rename(temp.c_str(), file.c_str()) != 0) {
      ctx.err << "privlinkctl: cannot rename " << temp << " to " << file << "\n";
      return kCliFailed;
    }
    return kCliOk;
  };
  c["state export"] = {"[--file FILE]",
                       [](po::options_description& d) {
                         d.add_options()("file,f", po::value<std::string>(),
                                         "write the document here (default: stdout)");
                       },
                       [save](const po::variables_map& vm, Context& ctx) {
                         return save(ctx, "/v1/state", Opt<std::string>(vm, "file").value_or(""));
                       }};
  c["state backup"] = {"FILE",
                       [](po::options_description& d) {
                         d.add_options()("name", po::value<std::string>(),
                                         "file to write the SQLite database to");
                       },
                       [save](const po::variables_map& vm, Context& ctx) {
                         return save(ctx, "/v1/state/backup", Required(vm, "name"));
                       }};
  c["dns"] = {"--network NAME [--format zones|hosts]",
              [](po::options_description& d) {
                d.add_options()("network", po::value<std::string>(), "consumer network")(
                    "format", po::value<std::string>()->default_value("zones"),
                    "zones: one BIND zone file per domain; hosts: an /etc/hosts fragment");
              },
              [](const po::variables_map& vm, Context& ctx) {
                const std::string format = vm["format"].as<std::string>();
                if (format != "zones" && format != "hosts") {
                  throw UsageError{Cat("--format: '", format, "' is not zones or hosts")};
                }
                return Report(ctx, "GET",
                              Cat(Path("networks", Required(vm, "network")), "/dnsRecords"),
                              std::nullopt, [format](const json& body, std::ostream& out) {
                                if (format == "hosts") {
                                  out << body.value("hosts", "");
                                  return;
                                }
                                for (const json& zone : body.value("zones", json::array())) {
                                  out << zone.value("zoneFile", "") << "\n";
                                }
                              });
              }};
  c["stats"] = {"", no_options, [](const po::variables_map&, Context& ctx) {
                  return Report(ctx, "GET", "/v1/stats", std::nullopt, PrintStats);
                }};
  AddInspectCommands(c);
  return c;
}

void PrintUsage(const std::map<std::string, Command>& commands, std::ostream& out) {
  out << "usage: privlinkctl [--server ADDR] [--token-file FILE] [-o table|json] COMMAND "
         "[options]\n\ncommands:\n";
  for (const auto& [name, command] : commands) {
    out << "  " << name << (command.usage.empty() ? "" : " ") << command.usage << "\n";
  }
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::map<std::string, Command> commands = Commands();
  po::options_description global("global options");
  global.add_options()("help,h", "show usage")("server", po::value<std::string>(),
                                               "host:port or Unix socket path of privlinkd")(
      "token-file", po::value<std::string>(),
      "file holding the API's bearer token (else $PRIVLINK_TOKEN, if set)")(
      "output,o", po::value<std::string>()->default_value("table"), "table or json");
  try {
    // Pass 1: global options anywhere, the command words, and everything else for pass 2.
    po::options_description first_pass;
    first_pass.add(global).add_options()("words", po::value<std::vector<std::string>>());
    po::positional_options_description words;
    words.add("words", -1);
    po::parsed_options parsed = po::command_line_parser(args)
                                    .options(first_pass)
                                    .positional(words)
                                    .allow_unregistered()
                                    .run();
    po::variables_map globals;
    po::store(parsed, globals);
    std::vector<std::string> rest =
        po::collect_unrecognized(parsed.options, po::include_positional);
    if (globals.count("help") && rest.empty()) {
      PrintUsage(commands, out);
      return kCliOk;
    }
    // The command is one word (apply, stats) or two (network create, flows count); two words
    // win where both exist (flows, flows count).
    auto command = commands.end();
    size_t used = 0;
    if (rest.size() >= 2) command = commands.find(rest[0] + " " + rest[1]), used = 2;
    if (command == commands.end() && !rest.empty()) command = commands.find(rest[0]), used = 1;
    if (command == commands.end()) {
      throw UsageError{rest.empty() ? "no command given"
                                    : Cat("unknown command '", rest[0],
                                          rest.size() > 1 ? " " + rest[1] : "", "'")};
    }
    rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(used));

    po::options_description options(Cat("options of ", command->first));
    command->second.options(options);
    po::positional_options_description name;
    if (options.find_nothrow("name", false) != nullptr) name.add("name", 1);
    po::variables_map vm;
    po::store(po::command_line_parser(rest).options(options).positional(name).run(), vm);
    po::notify(vm);
    if (globals.count("help")) {
      out << "usage: privlinkctl " << command->first << " " << command->second.usage << "\n"
          << options;
      return kCliOk;
    }

    const std::string output = globals["output"].as<std::string>();
    if (output != "table" && output != "json") throw UsageError{"-o must be table or json"};
    std::string server = kDefaultServer;
    if (const char* env = std::getenv("PRIVLINK_SERVER")) server = env;
    if (globals.count("server")) server = globals["server"].as<std::string>();
    auto address = ParseListenAddress(server);
    if (!address.ok()) throw UsageError{Cat("--server: ", address.status().message())};
    ApiClient client(*address);
    if (globals.count("token-file")) {
      auto token = ReadTokenFile(globals["token-file"].as<std::string>(), "--token-file");
      if (!token.ok()) throw UsageError{std::string(token.status().message())};
      client.SetBearerToken(*token);
    } else if (const char* token = std::getenv("PRIVLINK_TOKEN"); token != nullptr && *token) {
      client.SetBearerToken(token);
    }
    Context ctx{client, output == "json", out, err};
    return command->second.run(vm, ctx);
  } catch (const po::error& e) {
    err << "privlinkctl: " << e.what() << "\n";
  } catch (const UsageError& e) {
    err << "privlinkctl: " << e.message << "\n";
  }
  err << "try 'privlinkctl --help'\n";
  return kCliUsage;
}

}  // namespace privlink::control
