#include "dataplane/worker/vtep_table.h"

namespace privlink::dataplane {

std::optional<uint32_t> VtepTable::Slice::Acquire(const VtepHop& hop, nat::TimeMs now) {
  if (const auto it = by_hop_.find(hop); it != by_hop_.end()) {
    ++refs_[it->second - base_];
    return it->second;
  }
  uint32_t offset;
  if (!freed_.empty() && now - freed_.front().at >= kVtepReuseGraceMs) {
    offset = freed_.front().offset;
    freed_.pop_front();
  } else if (next_unused_ < kVtepsPerWorker) {
    offset = next_unused_++;
  } else {
    return std::nullopt;
  }
  const uint32_t index = base_ + offset;
  table_->hops_[index] = hop;
  refs_[offset] = 1;
  by_hop_.emplace(hop, index);
  return index;
}

void VtepTable::Slice::Release(uint32_t index, nat::TimeMs now) {
  const uint32_t offset = index - base_;
  if (offset >= kVtepsPerWorker || refs_[offset] == 0) return;
  if (--refs_[offset] != 0) return;
  by_hop_.erase(table_->hops_[index]);
  freed_.push_back({offset, now});
}

}  // namespace privlink::dataplane
