#include "control/store/model_rows.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

using nlohmann::json;

std::string Dump(const json& document) {
  return document.dump();
}

// The endpoint's own fields: its connection status is the service's record, kept in the
// service's row.
std::string EndpointDocument(const PrivateEndpoint& endpoint) {
  json document = EncodeEndpoint(Model{}, endpoint);
  document.erase("connectionStatus");
  return Dump(document);
}

std::string CursorsDocument(const IdCursors& cursors) {
  return Dump(json{{"network", cursors.network},
                   {"service", cursors.service},
                   {"endpoint", cursors.endpoint},
                   {"linkId", cursors.link_id}});
}

RowOp Put(std::string_view kind, const std::string& name, std::string document) {
  return RowOp{{std::string(kind), name}, std::move(document)};
}

RowOp Delete(std::string_view kind, const std::string& name) {
  return RowOp{{std::string(kind), name}, std::nullopt};
}

// A service's own fields: its connections are rows of their own.
std::string ServiceDocument(const PrivateLinkService& service) {
  json document = EncodeService(service);
  document.erase("privateEndpointConnections");
  return Dump(document);
}

std::string ConnectionName(const std::string& service, const std::string& endpoint) {
  return Cat(service, "/", endpoint);
}

bool SameServiceFields(const PrivateLinkService& a, const PrivateLinkService& b) {
  PrivateLinkService bare_a = a;
  PrivateLinkService bare_b = b;
  bare_a.connections.clear();
  bare_b.connections.clear();
  return bare_a == bare_b;
}

// Calls `removed(key, old)`, `added(key, new)` and `changed(key, old, new)` for the entries that
// differ between two versions of a map, skipping what they share (CowMap::Diff): a change costs
// what it changed, not the size of the model.
template <typename K, typename V, typename Removed, typename Added, typename Changed>
void DiffMaps(const CowMap<K, V>& before, const CowMap<K, V>& after, Removed removed, Added added,
              Changed changed) {
  CowMap<K, V>::Diff(before, after, [&](const K& key, const V* old_value, const V* new_value) {
    if (new_value == nullptr) {
      removed(key, *old_value);
    } else if (old_value == nullptr) {
      added(key, *new_value);
    } else {
      changed(key, *old_value, *new_value);
    }
    return true;
  });
}

// The ops for one kind whose rows are the map's values, encoded by `encode`.
template <typename Map, typename Encode>
void DiffRows(std::string_view kind, const Map& before, const Map& after, Encode encode,
              std::vector<RowOp>& ops) {
  DiffMaps(
      before, after,
      [&](const std::string& name, const auto&) { ops.push_back(Delete(kind, name)); },
      [&](const std::string& name, const auto& value) {
        ops.push_back(Put(kind, name, encode(value)));
      },
      [&](const std::string& name, const auto&, const auto& value) {
        ops.push_back(Put(kind, name, encode(value)));
      });
}

void DiffServices(const Model& before, const Model& after, std::vector<RowOp>& ops) {
  auto connections = [&](const std::string& service, const PrivateLinkService* old_service,
                         const PrivateLinkService* new_service) {
    static const CowMap<std::string, Connection> kNone;
    DiffMaps(
        old_service != nullptr ? old_service->connections : kNone,
        new_service != nullptr ? new_service->connections : kNone,
        [&](const std::string& pe, const Connection&) {
          ops.push_back(Delete(kConnectionRows, ConnectionName(service, pe)));
        },
        [&](const std::string& pe, const Connection& c) {
          ops.push_back(
              Put(kConnectionRows, ConnectionName(service, pe), Dump(EncodeConnection(c))));
        },
        [&](const std::string& pe, const Connection&, const Connection& c) {
          ops.push_back(
              Put(kConnectionRows, ConnectionName(service, pe), Dump(EncodeConnection(c))));
        });
  };
  DiffMaps(
      before.services, after.services,
      [&](const std::string& name, const PrivateLinkService& old_service) {
        ops.push_back(Delete(kServiceRows, name));
        connections(name, &old_service, nullptr);
      },
      [&](const std::string& name, const PrivateLinkService& new_service) {
        ops.push_back(Put(kServiceRows, name, ServiceDocument(new_service)));
        connections(name, nullptr, &new_service);
      },
      [&](const std::string& name, const PrivateLinkService& old_service,
          const PrivateLinkService& new_service) {
        if (!SameServiceFields(old_service, new_service)) {
          ops.push_back(Put(kServiceRows, name, ServiceDocument(new_service)));
        }
        connections(name, &old_service, &new_service);
      });
}

absl::StatusOr<IdCursors> DecodeCursors(const json& document, const std::string& prefix) {
  JsonObjectReader r(document, prefix);
  IdCursors cursors;
  cursors.network = static_cast<uint32_t>(r.Integer("network", 0, kNetworkIdLimit));
  cursors.service = static_cast<uint32_t>(r.Integer("service", 0, kServiceIdLimit));
  cursors.endpoint = static_cast<uint32_t>(r.Integer("endpoint", 0, kEndpointIdLimit));
  cursors.link_id = static_cast<uint32_t>(r.Integer("linkId", 0, kRestoredLinkIdBase - 1, 0));
  if (auto s = r.Finish(); !s.ok()) return s;
  return cursors;
}

absl::Status RowError(const std::string& prefix, std::string_view message) {
  return absl::InvalidArgumentError(Cat(prefix, " ", message));
}

// Connection documents by service name, each list in endpoint name order.
using ConnectionDocuments = std::map<std::string, json, std::less<>>;

absl::Status DecodeRow(const Row& row, Model& model, bool& has_cursors,
                       ConnectionDocuments& connections) {
  const std::string prefix = Cat(row.key.kind, "['", row.key.name, "'].");
  json document;
  if (auto s = ParseJson(row.document, document); !s.ok()) {
    return RowError(prefix, Cat("is not JSON: ", s.message()));
  }
  auto name_matches = [&](const std::string& name) {
    return name == row.key.name ? absl::OkStatus()
                                : RowError(prefix, Cat("holds a resource named '", name, "'"));
  };
  if (row.key.kind == kNetworkRows) {
    auto n = DecodeNetwork(document, prefix, DecodeMode::kState);
    if (!n.ok()) return n.status();
    if (auto s = name_matches(n->name); !s.ok()) return s;
    if (auto s = ValidateNetwork(*n, prefix); !s.ok()) return s;
    model.networks.emplace(n->name, std::move(*n));
  } else if (row.key.kind == kConnectionRows) {
    const size_t slash = row.key.name.find('/');
    if (slash == std::string::npos) return RowError(prefix, "is not named service/endpoint");
    json& list = connections[row.key.name.substr(0, slash)];
    if (list.is_null()) list = json::array();
    list.push_back(std::move(document));
  } else if (row.key.kind == kServiceRows) {
    if (document.is_object() && document.contains("privateEndpointConnections")) {
      return RowError(prefix, "holds connections (they are rows of their own)");
    }
    if (auto c = connections.find(row.key.name); c != connections.end()) {
      document["privateEndpointConnections"] = std::move(c->second);
      connections.erase(c);
    }
    auto s = DecodeService(document, prefix, DecodeMode::kState);
    if (!s.ok()) return s.status();
    if (auto m = name_matches(s->service.name); !m.ok()) return m;
    if (auto v = ValidateService(s->service, prefix); !v.ok()) return v;
    model.services.emplace(s->service.name, std::move(s->service));
  } else if (row.key.kind == kEndpointRows) {
    auto e = DecodeEndpoint(document, prefix, DecodeMode::kState);
    if (!e.ok()) return e.status();
    if (auto s = name_matches(e->name); !s.ok()) return s;
    if (auto s = ValidateEndpoint(*e, prefix); !s.ok()) return s;
    model.endpoints.emplace(e->name, std::move(*e));
  } else if (row.key.kind == kModelRows && row.key.name == kCursorsRow) {
    auto cursors = DecodeCursors(document, prefix);
    if (!cursors.ok()) return cursors.status();
    model.cursors = *cursors;
    has_cursors = true;
  } else {
    return RowError(prefix, "is of no known kind");
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<RowOp> EncodeModelRows(const Model& model) {
  return DiffModelRows(Model{}, model);
}

std::vector<RowOp> DiffModelRows(const Model& before, const Model& after) {
  std::vector<RowOp> ops;
  DiffRows(
      kNetworkRows, before.networks, after.networks,
      [](const Network& n) { return Dump(EncodeNetwork(n)); }, ops);
  DiffServices(before, after, ops);
  DiffRows(kEndpointRows, before.endpoints, after.endpoints, EndpointDocument, ops);
  if (!(before.cursors == after.cursors)) {
    ops.push_back(Put(kModelRows, std::string(kCursorsRow), CursorsDocument(after.cursors)));
  }
  return ops;
}

absl::StatusOr<Model> DecodeModelRows(const std::vector<Row>& rows) {
  Model model;
  bool has_cursors = false;
  ConnectionDocuments connections;
  // Rows come ordered by kind: privateEndpointConnections before privateLinkServices.
  for (const Row& row : rows) {
    if (auto s = DecodeRow(row, model, has_cursors, connections); !s.ok()) return s;
  }
  if (!connections.empty()) {
    return absl::InvalidArgumentError(Cat(kConnectionRows, "['", connections.begin()->first,
                                          "/...']: private link service '",
                                          connections.begin()->first, "' has no row"));
  }
  if (!rows.empty() && !has_cursors) {
    return absl::InvalidArgumentError(Cat(kModelRows, "['", kCursorsRow, "']: row is missing"));
  }
  if (auto s = CheckModelConsistency(model); !s.ok()) return s;
  return model;
}

absl::Status CheckModelConsistency(const Model& model) {
  std::set<uint32_t> network_ids, service_ids, endpoint_ids;
  std::set<std::string> aliases;
  for (const auto& [name, network] : model.networks) {
    if (!network_ids.insert(network.id).second) {
      return absl::InvalidArgumentError(Cat("network '", name, "': duplicate id ", network.id));
    }
  }
  for (const auto& [name, service] : model.services) {
    if (!service_ids.insert(service.id).second) {
      return absl::InvalidArgumentError(
          Cat("private link service '", name, "': duplicate id ", service.id));
    }
    if (service.alias.empty() || !aliases.insert(service.alias).second) {
      return absl::InvalidArgumentError(
          Cat("private link service '", name, "': missing or duplicate alias"));
    }
    for (const auto& [pe, connection] : service.connections) {
      if (connection.endpoint_id == kNoEndpoint) {
        return absl::InvalidArgumentError(
            Cat("private link service '", name, "': connection '", pe, "' has no endpoint id"));
      }
    }
  }
  for (const auto& [name, endpoint] : model.endpoints) {
    if (!endpoint_ids.insert(endpoint.id).second) {
      return absl::InvalidArgumentError(
          Cat("private endpoint '", name, "': duplicate id ", endpoint.id));
    }
    if (!model.networks.contains(endpoint.network)) {
      return absl::InvalidArgumentError(
          Cat("private endpoint '", name, "': network '", endpoint.network, "' does not exist"));
    }
  }
  return absl::OkStatus();
}

}  // namespace privlink::control
