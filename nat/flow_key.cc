#include "nat/flow_key.h"

#include "absl/strings/str_cat.h"

namespace privlink::nat {

std::string FormatFlowKey(const FlowKey& key) {
  const std::string net =
      key.network == kProviderNetwork ? std::string("provider") : absl::StrCat("net", key.network);
  return absl::StrCat(net, " ", FormatEndpoint(key.tuple.src_ip, key.tuple.src_port), " -> ",
                      FormatEndpoint(key.tuple.dst_ip, key.tuple.dst_port), " proto ", key.proto);
}

}  // namespace privlink::nat
