// Files the API serves as they are, compiled into the binary (embed_assets.py writes the table at
// build time): the Private Link Center page (console/) at /, and the OpenAPI document
// (docs/openapi.yaml, as JSON) at /v1/openapi.json. Served from memory, they need no install
// path, and the page always matches the API it calls.
#pragma once

#include <span>
#include <string_view>

namespace privlink::control {

struct StaticAsset {
  std::string_view path;          // the URL path it is served at
  std::string_view content_type;  // the Content-Type it is served with
  std::string_view etag;          // a strong ETag: a hash of the bytes, quoted
  std::string_view body;
};

std::span<const StaticAsset> StaticAssets();

}  // namespace privlink::control
