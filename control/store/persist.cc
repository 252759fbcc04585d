#include "control/store/persist.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

absl::Status ErrnoError(std::string_view what, std::string_view path) {
  return absl::InternalError(Cat(what, " ", path, ": ", std::strerror(errno)));
}

// Closes the descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data, std::string_view path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open", path);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

StateStore::StateStore(std::string dir)
    : dir_(std::move(dir)),
      path_(Cat(dir_, "/", kStateFileName)),
      temp_path_(Cat(dir_, "/", kStateFileName, ".tmp")) {}

absl::Status StateStore::Prepare() const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create state dir", dir_);
  }
  struct stat info;
  if (::stat(dir_.c_str(), &info) != 0) return ErrnoError("cannot stat state dir", dir_);
  if (!S_ISDIR(info.st_mode)) return absl::InternalError(Cat(dir_, " is not a directory"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Model>> StateStore::Load() const {
  struct stat info;
  if (::stat(path_.c_str(), &info) != 0) {
    if (errno == ENOENT) return std::optional<Model>();
    return ErrnoError("cannot stat state file", path_);
  }
  auto refuse = [&](std::string_view reason) {
    return absl::DataLossError(Cat("state file ", path_, " is unusable: ", reason,
                                   "; refusing to start (the file is left untouched: repair it "
                                   "or move it away to start from --config)"));
  };
  auto text = ReadAll(path_);
  if (!text.ok()) return refuse(ToStd(text.status().message()));
  nlohmann::json document;
  if (auto s = ParseJson(*text, document); !s.ok()) return refuse(ToStd(s.message()));
  auto model = DecodeState(document);
  if (!model.ok()) return refuse(ToStd(model.status().message()));
  if (auto s = CheckModelConsistency(*model); !s.ok()) return refuse(ToStd(s.message()));
  return std::optional<Model>(std::move(*model));
}

absl::Status StateStore::Save(const Model& model) const {
  const std::string text = EncodeState(model).dump(2) + "\n";
  {
    Fd fd(::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoError("cannot create", temp_path_);
    if (auto s = WriteAll(fd.get(), text, temp_path_); !s.ok()) return s;
    if (::fsync(fd.get()) != 0) return ErrnoError("cannot fsync", temp_path_);
    if (::close(fd.release()) != 0) return ErrnoError("cannot close", temp_path_);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) return ErrnoError("cannot rename", path_);
  // The rename is durable only once the directory entry is.
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return ErrnoError("cannot open", dir_);
  if (::fsync(dir.get()) != 0) return ErrnoError("cannot fsync", dir_);
  return absl::OkStatus();
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
