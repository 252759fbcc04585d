// Running the real binaries (privlinkctl, privlinkd) from tests: spawn, capture, kill.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace privlink::control::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// The path of a binary the meson test passes in the environment (e.g. PRIVLINKCTL).
inline std::string BinaryFromEnv(const char* variable) {
  const char* path = std::getenv(variable);
  return path == nullptr ? std::string() : std::string(path);
}

// Starts `argv` with stdout/stderr sent to the given files ("" = inherit). Returns the pid.
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_file = "",
                   const std::string& err_file = "") {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!out_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
  }
  if (!err_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

inline int WaitExitCode(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -2;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `argv` to completion, capturing its output through files in `scratch_dir`.
inline ProcessResult RunProcess(const std::vector<std::string>& argv,
                                const std::string& scratch_dir) {
  const std::string out = scratch_dir + "/stdout";
  const std::string err = scratch_dir + "/stderr";
  ProcessResult result;
  const pid_t pid = Spawn(argv, out, err);
  if (pid < 0) return result;
  result.exit_code = WaitExitCode(pid);
  result.out = Slurp(out);
  result.err = Slurp(err);
  return result;
}

}  // namespace privlink::control::testing
