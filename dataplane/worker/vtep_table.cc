#include "dataplane/worker/vtep_table.h"

namespace privlink::dataplane {

std::optional<uint32_t> VtepTable::Slice::Acquire(const VtepHop& hop) {
  if (const auto it = by_hop_.find(hop); it != by_hop_.end()) {
    ++refs_[it->second - base_];
    return it->second;
  }
  uint32_t offset;
  const bool reusable =
      !freed_.empty() &&
      (readers_ == nullptr || rte_rcu_qsbr_check(readers_, freed_.front().token, false) == 1);
  if (reusable) {
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

void VtepTable::Slice::Release(uint32_t index) {
  const uint32_t offset = index - base_;
  if (offset >= kVtepsPerWorker || refs_[offset] == 0) return;
  if (--refs_[offset] != 0) return;
  by_hop_.erase(table_->hops_[index]);
  freed_.push_back({offset, readers_ != nullptr ? rte_rcu_qsbr_start(readers_) : 0});
}

}  // namespace privlink::dataplane
