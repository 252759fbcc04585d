#include "control/config/daemon_config.h"

#include <fstream>
#include <sstream>

#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {

absl::StatusOr<DaemonConfig> ParseDaemonConfig(std::string_view text) {
  nlohmann::json document;
  if (auto s = ParseJson(text, document); !s.ok()) return s;
  DaemonConfig config;
  auto dataplane = DecodeDataplaneConfig(document);
  if (!dataplane.ok()) return dataplane.status();
  config.dataplane = std::move(*dataplane);
  auto resources = DecodeResourceDocument(document);
  if (!resources.ok()) return resources.status();
  config.resources = std::move(*resources);
  return config;
}

absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseDaemonConfig(text.str());
  if (!config.ok()) {
    return absl::Status(
        config.status().code(),
        Cat(path, ": ",
            std::string_view(config.status().message().data(), config.status().message().size())));
  }
  return config;
}

}  // namespace privlink::control
