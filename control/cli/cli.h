// privlinkctl: the command-line client of privlinkd's API, verbs shaped like Azure's CLI.
//
//   privlinkctl [--server ADDR] [-o table|json] network create|show|list|delete ...
//                                               service create|update|show|list|delete ...
//                                               endpoint create|show|list|delete ...
//                                               connection list|approve|reject|delete ...
//                                               apply -f FILE
//                                               stats
//
// ADDR is host:port or a Unix socket path (default $PRIVLINK_SERVER, else 127.0.0.1:9180).
// Exit status: 0 success, 1 the API refused (its message on stderr) or could not be reached,
// 2 bad usage.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace privlink::control {

inline constexpr int kCliOk = 0;
inline constexpr int kCliFailed = 1;
inline constexpr int kCliUsage = 2;

// `args` without the program name.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace privlink::control
