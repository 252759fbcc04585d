// The stream shift of a connection whose first bytes towards the backend privlink wrote itself
// (a PROXY protocol v2 header of `shift` bytes): every sequence number the client sends is
// `shift` higher at the backend, and every acknowledgement (and SACK block) the backend sends is
// `shift` lower at the client. Checksums are updated incrementally.
#pragma once

#include <cstddef>
#include <cstdint>

namespace privlink::dataplane {

// Adds `delta` (mod 2^32) to the sequence number of the TCP header at `tcp`; the header's
// checksum field must be there (it is updated).
void AddToSeq(uint8_t* tcp, uint32_t delta);
// Sets the acknowledgement number to `ack` (host order).
void SetAck(uint8_t* tcp, uint32_t ack);
// Adds `delta` to both edges of every SACK block (the options of a `header_len`-byte header).
void AddToSackBlocks(uint8_t* tcp, size_t header_len, uint32_t delta);

}  // namespace privlink::dataplane
