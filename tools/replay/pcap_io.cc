#include "tools/replay/pcap_io.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace privlink::tools {
namespace {

// pcap's largest snap length (MAXIMUM_SNAPLEN): what the writer declares.
constexpr int kSnapLen = 262144;

std::string LinkTypeName(int link_type) {
  const char* name = pcap_datalink_val_to_name(link_type);
  return absl::StrCat(name != nullptr ? name : "unknown", " (", link_type, ")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<PcapReader>> PcapReader::Open(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(path + ": not a regular file");
  char error[PCAP_ERRBUF_SIZE] = {};
  // Nanosecond files are read as microseconds by libpcap itself.
  pcap_t* pcap =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
  if (pcap == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a pcap file (", error, ")"));
  }
  std::unique_ptr<PcapReader> reader(new PcapReader(path, pcap));
  reader->file_size_ = static_cast<uint64_t>(st.st_size);
  if (const int link = pcap_datalink(pcap); link != DLT_EN10MB) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": link type ", LinkTypeName(link),
        " is not Ethernet (EN10MB); capture on an Ethernet interface, not with tcpdump -i any"));
  }
  return reader;
}

PcapReader::~PcapReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

absl::StatusOr<bool> PcapReader::Next(PcapRecord& record) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_, &header, &data);
  if (rc == PCAP_ERROR_BREAK) return false;  // end of file
  if (rc != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": record ", records_ + 1, ": ", pcap_geterr(pcap_)));
  }
  ++records_;
  record.time_us = static_cast<uint64_t>(header->ts.tv_sec) * 1'000'000 +
                   static_cast<uint64_t>(header->ts.tv_usec);
  record.frame = {data, header->caplen};
  record.wire_len = header->len;
  return true;
}

uint64_t PcapReader::position() const {
  FILE* file = pcap_file(pcap_);
  if (file == nullptr) return 0;
  const long at = std::ftell(file);
  return at < 0 ? 0 : static_cast<uint64_t>(at);
}

absl::StatusOr<std::unique_ptr<PcapWriter>> PcapWriter::Create(const std::string& path) {
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLen, PCAP_TSTAMP_PRECISION_MICRO);
  if (dead == nullptr) return absl::ResourceExhaustedError("libpcap: out of memory");
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  if (dumper == nullptr) {
    std::string error = pcap_geterr(dead);
    pcap_close(dead);
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write (", error, ")"));
  }
  return std::unique_ptr<PcapWriter>(new PcapWriter(path, dead, dumper));
}

PcapWriter::~PcapWriter() {
  (void)Close();
}

void PcapWriter::Write(std::span<const uint8_t> frame, uint64_t time_us) {
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(time_us / 1'000'000);
  header.ts.tv_usec = static_cast<suseconds_t>(time_us % 1'000'000);
  header.caplen = static_cast<bpf_u_int32>(frame.size());
  header.len = header.caplen;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, frame.data());
  ++records_;
}

absl::Status PcapWriter::Close() {
  if (dumper_ == nullptr) return absl::OkStatus();
  const bool flushed = pcap_dump_flush(dumper_) == 0 && std::ferror(pcap_dump_file(dumper_)) == 0;
  pcap_dump_close(dumper_);  // fclose: its own error is not reported by libpcap
  pcap_close(dead_);
  dumper_ = nullptr;
  dead_ = nullptr;
  if (!flushed) return absl::InternalError(path_ + ": write failed (disk full?)");
  return absl::OkStatus();
}

}  // namespace privlink::tools
