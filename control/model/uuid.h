// Random identifiers (RFC 4122 version 4 UUIDs) for service aliases, behind an interface so tests
// can make them deterministic.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace privlink::control {

class UuidGenerator {
 public:
  virtual ~UuidGenerator() = default;
  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case hex.
  virtual std::string NewUuid() = 0;
};

// Version 4 UUIDs from a 64-bit Mersenne Twister. Seeded from std::random_device by default;
// tests pass a fixed seed.
class RandomUuidGenerator final : public UuidGenerator {
 public:
  RandomUuidGenerator();
  explicit RandomUuidGenerator(uint64_t seed) : engine_(seed) {}
  std::string NewUuid() override;

 private:
  std::mt19937_64 engine_;
};

// Formats 128 bits as a version 4 UUID (sets the version and variant bits).
std::string FormatUuidV4(uint64_t high, uint64_t low);

}  // namespace privlink::control
