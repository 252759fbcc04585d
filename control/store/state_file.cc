#include "control/store/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"
#include "control/store/model_rows.h"

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

absl::StatusOr<Model> ReadStateFile(const std::string& path) {
  auto refuse = [&](std::string_view reason) {
    return absl::DataLossError(Cat("state file ", path, " is unusable: ", reason,
                                   "; refusing to start (the file is left untouched: repair it "
                                   "or move it away to start from --config)"));
  };
  auto text = ReadAll(path);
  if (!text.ok()) return refuse(ToStd(text.status().message()));
  nlohmann::json document;
  if (auto s = ParseJson(*text, document); !s.ok()) return refuse(ToStd(s.message()));
  auto model = DecodeState(document);
  if (!model.ok()) return refuse(ToStd(model.status().message()));
  if (auto s = CheckModelConsistency(*model); !s.ok()) return refuse(ToStd(s.message()));
  return std::move(*model);
}

}  // namespace privlink::control
