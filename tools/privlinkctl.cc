// privlinkctl: command-line client of privlinkd's API (logic in control/cli.cc).
#include <iostream>
#include <string>
#include <vector>

#include "control/cli/cli.h"

int main(int argc, char** argv) {
  return privlink::control::RunCli(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                   std::cerr);
}
