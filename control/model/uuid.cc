#include "control/model/uuid.h"

#include <cstdio>

namespace privlink::control {

RandomUuidGenerator::RandomUuidGenerator() {
  std::random_device device;
  engine_.seed((static_cast<uint64_t>(device()) << 32) ^ device());
}

std::string RandomUuidGenerator::NewUuid() {
  const uint64_t high = engine_();
  const uint64_t low = engine_();
  return FormatUuidV4(high, low);
}

std::string FormatUuidV4(uint64_t high, uint64_t low) {
  high = (high & ~0xf000ull) | 0x4000ull;            // version 4
  low = (low & ~(0xc0ull << 56)) | (0x80ull << 56);  // variant 10xx
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xffff), static_cast<unsigned>(high & 0xffff),
                static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xffffffffffffull));
  return text;
}

}  // namespace privlink::control
