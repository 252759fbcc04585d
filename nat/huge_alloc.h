// Large, zeroed, page-aligned allocations for the flow table.
//
// Tables of millions of flows are touched at random, so TLB reach matters as much as cache
// misses: we ask for 2 MB pages (MAP_HUGETLB) and fall back to normal pages with transparent
// huge pages requested (MADV_HUGEPAGE), so the same code runs with and without hugepages and
// without DPDK's EAL.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"

namespace privlink::nat {

struct HugeRegionDeleter {
  size_t bytes = 0;
  void operator()(void* p) const;
};
using HugeRegion = std::unique_ptr<void, HugeRegionDeleter>;

// Zero-filled region of at least `bytes`; ResourceExhausted when the kernel refuses.
absl::StatusOr<HugeRegion> AllocateHugeRegion(size_t bytes);

}  // namespace privlink::nat
