// A minimal pcapng writer (IETF draft-ietf-opsawg-pcapng): one section header, interface
// description blocks and enhanced packet blocks with a comment (opt_comment) and a direction
// (epb_flags). libpcap writes only classic pcap, which has no per-packet comments, and the
// capture needs them for drop reasons.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace privlink::dataplane {

// epb_flags bits 0-1.
enum class PcapngDirection : uint32_t { kUnknown = 0, kInbound = 1, kOutbound = 2 };

inline constexpr uint16_t kPcapngLinkEthernet = 1;  // LINKTYPE_ETHERNET

class PcapngWriter {
 public:
  // Starts the file with a section header naming `application` (shb_userappl).
  explicit PcapngWriter(std::string_view application);

  // Adds an Ethernet interface with nanosecond timestamps; returns its id for AddPacket.
  uint32_t AddInterface(std::string_view name, uint32_t snaplen);
  // `data` is the captured part of a frame of `original_len` bytes; `comment` may be empty (it
  // is written ending with a newline).
  void AddPacket(uint32_t interface, uint64_t time_ns, std::span<const uint8_t> data,
                 uint32_t original_len, PcapngDirection direction, std::string_view comment);

  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void U16(uint16_t v);
  void U32(uint32_t v);
  void Bytes(std::span<const uint8_t> data);  // padded to 4 bytes
  void Option(uint16_t code, std::span<const uint8_t> value);
  void EndOptions();
  size_t BeginBlock(uint32_t type);
  void EndBlock(size_t start);

  std::string out_;
  uint32_t interfaces_ = 0;
};

}  // namespace privlink::dataplane
