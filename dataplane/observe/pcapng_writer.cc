#include "dataplane/observe/pcapng_writer.h"

#include <cstring>

namespace privlink::dataplane {
namespace {

// Block types and option codes (host byte order: the byte-order magic tells readers which).
constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 0x00000001;
constexpr uint32_t kEnhancedPacket = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsResol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint8_t kNanosecondResolution = 9;  // 10^-9 s

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

PcapngWriter::PcapngWriter(std::string_view application) {
  const size_t start = BeginBlock(kSectionHeader);
  U32(kByteOrderMagic);
  U16(1);           // major version
  U16(0);           // minor version
  U32(0xffffffff);  // section length: unknown (-1 as 64 bits)
  U32(0xffffffff);
  Option(kShbUserAppl, AsBytes(application));
  EndOptions();
  EndBlock(start);
}

uint32_t PcapngWriter::AddInterface(std::string_view name, uint32_t snaplen) {
  const size_t start = BeginBlock(kInterfaceDescription);
  U16(kPcapngLinkEthernet);
  U16(0);  // reserved
  U32(snaplen);
  Option(kIfName, AsBytes(name));
  const uint8_t resolution = kNanosecondResolution;
  Option(kIfTsResol, {&resolution, 1});
  EndOptions();
  EndBlock(start);
  return interfaces_++;
}

void PcapngWriter::AddPacket(uint32_t interface, uint64_t time_ns, std::span<const uint8_t> data,
                             uint32_t original_len, PcapngDirection direction,
                             std::string_view comment) {
  const size_t start = BeginBlock(kEnhancedPacket);
  U32(interface);
  U32(static_cast<uint32_t>(time_ns >> 32));
  U32(static_cast<uint32_t>(time_ns));
  U32(static_cast<uint32_t>(data.size()));
  U32(original_len);
  Bytes(data);
  if (!comment.empty()) {
    // Ended by a newline: scapy 2.5 (Debian 12) reads only comments that have one, as it writes
    // them; other readers show it as trailing whitespace.
    std::string text(comment);
    if (text.back() != '\n') text.push_back('\n');
    Option(kOptComment, AsBytes(text));
  }
  if (direction != PcapngDirection::kUnknown) {
    uint8_t flags[4];
    const auto v = static_cast<uint32_t>(direction);
    std::memcpy(flags, &v, sizeof flags);
    Option(kEpbFlags, flags);
  }
  EndOptions();
  EndBlock(start);
}

void PcapngWriter::U16(uint16_t v) {
  out_.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PcapngWriter::U32(uint32_t v) {
  out_.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PcapngWriter::Bytes(std::span<const uint8_t> data) {
  out_.append(reinterpret_cast<const char*>(data.data()), data.size());
  out_.append((4 - data.size() % 4) % 4, '\0');
}

void PcapngWriter::Option(uint16_t code, std::span<const uint8_t> value) {
  U16(code);
  U16(static_cast<uint16_t>(value.size()));
  Bytes(value);
}

void PcapngWriter::EndOptions() {
  U16(kOptEnd);
  U16(0);
}

size_t PcapngWriter::BeginBlock(uint32_t type) {
  const size_t start = out_.size();
  U32(type);
  U32(0);  // total length, patched by EndBlock
  return start;
}

void PcapngWriter::EndBlock(size_t start) {
  const auto total = static_cast<uint32_t>(out_.size() - start + 4);
  std::memcpy(out_.data() + start + 4, &total, sizeof total);
  U32(total);
}

}  // namespace privlink::dataplane
