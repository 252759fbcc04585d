#include "nat/huge_alloc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace privlink::nat {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
size_t RoundUp(size_t v, size_t to) {
  return (v + to - 1) / to * to;
}
}  // namespace

void HugeRegionDeleter::operator()(void* p) const {
  if (p != nullptr) munmap(p, bytes);
}

absl::StatusOr<HugeRegion> AllocateHugeRegion(size_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("AllocateHugeRegion: zero bytes");
  const size_t len = RoundUp(bytes, kHugePage);
  // MAP_NORESERVE|MAP_POPULATE are deliberately absent: memory is committed as the table fills,
  // and a failed hugepage mapping falls back instead of failing the start.
  void* p =
      mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (p == MAP_FAILED) {
    p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot map ", len, " bytes: ", std::strerror(errno)));
    }
    madvise(p, len, MADV_HUGEPAGE);  // best effort: THP may be disabled
  }
  return HugeRegion(p, HugeRegionDeleter{len});
}

}  // namespace privlink::nat
