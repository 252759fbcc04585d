// docs/drop-reasons.md lists every drop reason (the drop-reason convention): fails when a reason is
// added to dataplane/drop_reasons.def without its line.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "dataplane/packet/drop_reason.h"

namespace privlink::dataplane {
namespace {

TEST(ReadmeDropReasons, EveryReasonHasARow) {
  const char* path = std::getenv("PRIVLINK_DROP_REASONS_DOC");
  ASSERT_NE(path, nullptr) << "set PRIVLINK_DROP_REASONS_DOC to docs/drop-reasons.md";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string_view name = DropReasonName(static_cast<DropReason>(i));
    EXPECT_NE(text.str().find("| `" + std::string(name) + "` |"), std::string::npos)
        << "docs/drop-reasons.md has no row for drop reason " << name;
  }
}

}  // namespace
}  // namespace privlink::dataplane
