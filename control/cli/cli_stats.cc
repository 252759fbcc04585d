#include "control/cli/cli_stats.h"

#include <string>

#include "control/cli/cli_table.h"

namespace privlink::control {
namespace {

using nlohmann::json;

// One table of `rows` (an array of objects) with the given (header, field) columns.
void PrintRows(const char* title, const json& rows,
               const std::vector<std::pair<std::string, std::string>>& columns, std::ostream& out) {
  if (!rows.is_array() || rows.empty()) return;
  out << "\n" << title << "\n";
  std::vector<std::string> headers;
  for (const auto& [header, field] : columns) headers.push_back(header);
  Table table(headers);
  for (const json& row : rows) {
    std::vector<std::string> cells;
    for (const auto& [header, field] : columns) {
      cells.push_back(row.contains(field) ? Cell(row[field]) : "-");
    }
    table.AddRow(std::move(cells));
  }
  table.Print(out);
}

void PrintDataplane(const json& d, std::ostream& out) {
  PrintRows("PORTS", d.value("ports", json::array()),
            {{"NAME", "name"},
             {"ROLE", "role"},
             {"MAC", "mac"},
             {"RX PACKETS", "rxPackets"},
             {"RX BYTES", "rxBytes"},
             {"TX PACKETS", "txPackets"},
             {"TX BYTES", "txBytes"}},
            out);
  // bytesOut: what the endpoint's consumers sent towards the service; bytesIn: what came back.
  PrintRows("PRIVATE ENDPOINTS", d.value("endpoints", json::array()),
            {{"NAME", "name"},
             {"SERVICE", "service"},
             {"TRAFFIC", "carriesTraffic"},
             {"PACKETS OUT", "packetsOut"},
             {"BYTES OUT", "bytesOut"},
             {"PACKETS IN", "packetsIn"},
             {"BYTES IN", "bytesIn"}},
            out);
  PrintRows("PRIVATE LINK SERVICES", d.value("services", json::array()),
            {{"NAME", "name"},
             {"PACKETS IN", "packetsIn"},
             {"BYTES IN", "bytesIn"},
             {"PACKETS OUT", "packetsOut"},
             {"BYTES OUT", "bytesOut"}},
            out);
  PrintRows("NAT IPS", d.value("natPorts", json::array()),
            {{"IP", "ip"}, {"SERVICE", "service"}, {"PORTS IN USE", "inUse"}}, out);
  if (d.contains("flows")) {
    const json& f = d["flows"];
    out << "\nFLOWS  total " << Cell(f.value("total", json(0))) << " of "
        << Cell(f.value("capacity", json(0))) << ", created " << Cell(f.value("created", json(0)))
        << ", expired " << Cell(f.value("expired", json(0))) << "\n";
    Table states({"STATE", "FLOWS"});
    // Named locals: a range-for over items() of a temporary would outlive the temporary.
    const json by_state = f.value("byState", json::object());
    for (const auto& [state, count] : by_state.items()) {
      states.AddRow({state, Cell(count)});
    }
    states.Print(out);
  }
  out << "\nDROPS  total " << Cell(d.value("dropsTotal", json(0))) << "\n";
  Table drops({"REASON", "PACKETS"});
  const json reasons = d.value("drops", json::object());
  for (const auto& [reason, count] : reasons.items()) {
    if (count.is_number() && count.get<uint64_t>() != 0) drops.AddRow({reason, Cell(count)});
  }
  drops.Print(out);
}

}  // namespace

void PrintStats(const json& stats, std::ostream& out) {
  if (stats.contains("control")) PrintKeyValues(json{{"control", stats["control"]}}, out);
  if (stats.contains("dataplane") && stats["dataplane"].is_object()) {
    PrintDataplane(stats["dataplane"], out);
  } else {
    out << "\n(no dataplane: privlinkd runs with --no-dataplane)\n";
  }
}

}  // namespace privlink::control
