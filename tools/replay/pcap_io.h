// pcap files through libpcap, with errors that name the file and say what is wrong: reading
// Ethernet captures (microsecond or nanosecond pcap, or pcapng; times read as microseconds) and
// writing microsecond Ethernet pcaps. Shared by privlink-replay and the trace tools.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace privlink::tools {

struct PcapRecord {
  uint64_t time_us = 0;            // since the Unix epoch
  std::span<const uint8_t> frame;  // captured bytes; valid until the next Next()
  uint32_t wire_len = 0;           // the frame's length on the wire (> frame.size(): snap length)
};

class PcapReader {
 public:
  // Fails (InvalidArgument, message "<path>: ...") when the file is missing, is not a pcap or
  // pcapng file, or its link type is not Ethernet.
  static absl::StatusOr<std::unique_ptr<PcapReader>> Open(const std::string& path);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // The next record: true, false at the end of the file, or an error for a truncated or
  // malformed record ("<path>: record N: ...").
  absl::StatusOr<bool> Next(PcapRecord& record);

  const std::string& path() const { return path_; }
  uint64_t records() const { return records_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t position() const;  // bytes read so far (progress)

 private:
  PcapReader(std::string path, pcap_t* pcap) : path_(std::move(path)), pcap_(pcap) {}
  std::string path_;
  pcap_t* pcap_ = nullptr;
  uint64_t records_ = 0;
  uint64_t file_size_ = 0;
};

class PcapWriter {
 public:
  // Creates (or truncates) `path` as a microsecond pcap of Ethernet frames.
  static absl::StatusOr<std::unique_ptr<PcapWriter>> Create(const std::string& path);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void Write(std::span<const uint8_t> frame, uint64_t time_us);
  // Flushes and closes; an error when the data could not all be written (disk full).
  absl::Status Close();

  const std::string& path() const { return path_; }
  uint64_t records() const { return records_; }

 private:
  PcapWriter(std::string path, pcap_t* dead, pcap_dumper_t* dumper)
      : path_(std::move(path)), dead_(dead), dumper_(dumper) {}
  std::string path_;
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  uint64_t records_ = 0;
};

}  // namespace privlink::tools
