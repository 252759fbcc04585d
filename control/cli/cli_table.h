// Human-readable output for privlinkctl: aligned tables and key/value listings.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privlink::control {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Columns padded to their widest cell, two spaces apart; no trailing spaces.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// A JSON value as one table cell: strings bare, arrays of scalars comma-separated, the rest as
// compact JSON.
std::string Cell(const nlohmann::json& value);

// One "key  value" line per field of `object` (nested objects flattened as "a.b").
void PrintKeyValues(const nlohmann::json& object, std::ostream& out);

}  // namespace privlink::control
