#include "control/store/store.h"

#include <algorithm>

namespace privlink::control {

std::vector<std::vector<RowOp>> ChunkBatch(const std::vector<RowOp>& ops, size_t max_ops) {
  std::vector<std::vector<RowOp>> chunks;
  const size_t step = std::max<size_t>(max_ops, 1);
  for (size_t i = 0; i < ops.size(); i += step) {
    const size_t end = ops.size() - i > step ? i + step : ops.size();
    chunks.emplace_back(ops.begin() + static_cast<std::ptrdiff_t>(i),
                        ops.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return chunks;
}

}  // namespace privlink::control
