// A small pcapng reader for tests: the enhanced packet blocks of a file written by
// PcapngWriter (host byte order), with their comment and flags options.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace privlink::dataplane::testing {

struct PcapngPacket {
  uint32_t interface = 0;
  uint64_t time = 0;
  uint32_t original_len = 0;
  std::vector<uint8_t> data;
  std::string comment;
  uint32_t flags = 0;
};

struct PcapngFile {
  uint32_t interfaces = 0;
  std::vector<uint32_t> snaplens;
  std::vector<PcapngPacket> packets;
};

// nullopt when the bytes are not a well-formed section of blocks.
inline std::optional<PcapngFile> ReadPcapng(const std::string& bytes) {
  auto u16 = [&](size_t at) {
    uint16_t v;
    std::memcpy(&v, bytes.data() + at, 2);
    return v;
  };
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  PcapngFile file;
  size_t at = 0;
  bool first = true;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) return std::nullopt;
    const uint32_t type = u32(at), len = u32(at + 4);
    if (len < 12 || len % 4 != 0 || len > bytes.size() - at || u32(at + len - 4) != len) {
      return std::nullopt;
    }
    if (first && (type != 0x0A0D0D0A || u32(at + 8) != 0x1A2B3C4D)) return std::nullopt;
    first = false;
    if (type == 1) {
      ++file.interfaces;
      file.snaplens.push_back(u32(at + 12));
    } else if (type == 6) {
      PcapngPacket p;
      p.interface = u32(at + 8);
      p.time = (uint64_t{u32(at + 12)} << 32) | u32(at + 16);
      const uint32_t captured = u32(at + 20);
      p.original_len = u32(at + 24);
      p.data.assign(bytes.begin() + at + 28, bytes.begin() + at + 28 + captured);
      size_t opt = at + 28 + (captured + 3) / 4 * 4;
      while (opt + 4 <= at + len - 4) {
        const uint16_t code = u16(opt), olen = u16(opt + 2);
        if (code == 0) break;
        if (code == 1) p.comment.assign(bytes.data() + opt + 4, olen);
        if (code == 2) p.flags = u32(opt + 4);
        opt += 4 + (olen + 3) / 4 * 4;
      }
      file.packets.push_back(std::move(p));
    }
    at += len;
  }
  return file;
}

}  // namespace privlink::dataplane::testing
