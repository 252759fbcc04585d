#include "nat/flow_key.h"

#include "absl/strings/str_cat.h"

namespace privlink::nat {

std::string FormatFlowKey(const FlowKey& key) {
  const std::string net =
      key.network == kProviderNetwork ? std::string("provider") : absl::StrCat("net", key.network);
  return absl::StrCat(net, " ", FormatEndpoint(key.src_ip, key.src_port), " -> ",
                      FormatEndpoint(key.dst_ip, key.dst_port), " proto ", key.proto);
}

}  // namespace privlink::nat
