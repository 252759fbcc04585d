// A strict reader of the Prometheus text exposition format (version 0.0.4) for tests: every line
// must be a HELP or TYPE comment or a sample "name{label="value",...} value"; anything else fails.
#pragma once

#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace privlink::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  // "name{a="x",b="y"}" with labels sorted: identifies the series across scrapes.
  std::string Series() const {
    std::string s = name + "{";
    for (const auto& [k, v] : labels) s += k + "=\"" + v + "\",";
    return s + "}";
  }
};

struct PromText {
  std::map<std::string, std::string> types;  // family name -> counter, gauge, ...
  std::vector<PromSample> samples;
  std::vector<std::string> errors;  // lines that are none of the above

  // The family a sample belongs to: its own name, or for a histogram's _bucket, _sum and _count
  // samples the histogram's.
  std::string FamilyOf(const std::string& sample) const {
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (!sample.ends_with(suffix)) continue;
      auto it = types.find(sample.substr(0, sample.size() - suffix.size()));
      if (it != types.end() && it->second == "histogram") return it->first;
    }
    return sample;
  }
  // The sample's family type ("" for a sample of no declared family).
  std::string TypeOf(const std::string& sample) const {
    auto it = types.find(FamilyOf(sample));
    return it == types.end() ? "" : it->second;
  }

  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels) const {
    for (const PromSample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
};

inline PromText ParsePromText(const std::string& text) {
  static const std::regex kType(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?[0-9.eE+-]+|NaN|[-+]Inf)( [0-9]+)?$)");
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?)re");
  PromText out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::smatch m;
    if (std::regex_match(line, m, kType)) {
      out.types[m[1]] = m[2];
    } else if (std::regex_match(line, kHelp)) {
    } else if (std::regex_match(line, m, kSample)) {
      PromSample s{.name = m[1], .value = std::stod(m[4])};
      std::string labels = m[3];
      for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it) {
        s.labels[(*it)[1]] = (*it)[2];
      }
      out.samples.push_back(std::move(s));
    } else {
      out.errors.push_back(line);
    }
  }
  return out;
}

}  // namespace privlink::testing
