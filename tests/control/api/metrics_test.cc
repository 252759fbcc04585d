// GET /metrics: the Prometheus text format from prometheus-cpp, with the control plane's metrics
// and those of a StatsSource, following Prometheus naming rules; counters never go down.
#include "control/api/metrics.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/api/api_server.h"
#include "control/config/daemon_config.h"
#include "tests/control/framework/prometheus_text.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using privlink::testing::ParsePromText;
using privlink::testing::PromText;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using namespace privlink::control::testing;

// A dataplane stand-in whose counter grows by 1000 bytes at every scrape.
class GrowingStats final : public StatsSource {
 public:
  nlohmann::json Stats() const override { return nullptr; }
  void CollectMetrics(prometheus::Registry& registry) const override {
    bytes_ += 1000;
    auto& family = CounterFamily(registry, "privlink_endpoint_bytes_total", "bytes");
    AddCounter(family, {{"endpoint", "contoso-pe"}, {"direction", "in"}}, bytes_);
    AddGauge(GaugeFamily(registry, "privlink_flows", "flows"), {{"state", "established"}}, 3);
  }
  mutable uint64_t bytes_ = 0;
};

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto plane = ReferenceControlPlane(&uuids_);
    ASSERT_TRUE(plane.ok()) << plane.status();
    control_ = std::move(*plane);
  }

  SequentialUuids uuids_;
  std::unique_ptr<ControlPlane> control_;
};

// Prometheus naming: privlink_ prefix, counters (and only counters) end in _total, lower-case
// snake_case names and label names, every sample of a declared family.
void ExpectPrometheusNaming(const PromText& text) {
  EXPECT_THAT(text.errors, IsEmpty());
  EXPECT_FALSE(text.samples.empty());
  for (const auto& [name, type] : text.types) {
    EXPECT_THAT(name, StartsWith("privlink_"));
    EXPECT_TRUE(std::regex_match(name, std::regex("[a-z_]+"))) << name;
    const bool total = name.size() > 6 && name.ends_with("_total");
    EXPECT_EQ(total, type == "counter") << name << " is a " << type;
  }
  for (const auto& s : text.samples) {
    EXPECT_TRUE(text.types.contains(text.FamilyOf(s.name))) << s.name << " has no TYPE line";
    for (const auto& [label, value] : s.labels) {
      EXPECT_TRUE(std::regex_match(label, std::regex("[a-z_]+"))) << label;
      EXPECT_FALSE(value.empty()) << s.Series();
    }
  }
}

TEST_F(MetricsTest, ControlOnlyMetricsFollowNamingRules) {
  const PromText text = ParsePromText(RenderMetrics(*control_, nullptr));
  ExpectPrometheusNaming(text);
  EXPECT_EQ(text.types.at("privlink_snapshot_generation"), "gauge");
  EXPECT_EQ(text.Value("privlink_snapshot_generation", {}),
            static_cast<double>(control_->counters().snapshot_generation));
  EXPECT_EQ(text.Value("privlink_resources", {{"kind", "private_endpoint"}}), 1);
  EXPECT_EQ(text.Value("privlink_connections", {{"status", "approved"}}), 1);
  EXPECT_EQ(text.Value("privlink_config_changes_total", {{"result", "accepted"}}), 1);
  EXPECT_FALSE(text.types.contains("privlink_endpoint_bytes_total"));
}

TEST_F(MetricsTest, ServedOnTheApiListenerWithTheDataplanesMetricsAndCountersMonotonic) {
  GrowingStats stats;
  ApiServer server(*control_, &stats);
  ASSERT_TRUE(server.Bind({false, "127.0.0.1", 0, ""}).ok());
  server.Start();
  httplib::Client client("127.0.0.1", server.port());
  std::vector<PromText> scrapes;
  for (int i = 0; i < 3; ++i) {
    auto result = client.Get("/metrics");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 200);
    EXPECT_THAT(result->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
    scrapes.push_back(ParsePromText(result->body));
    ExpectPrometheusNaming(scrapes.back());
  }
  // The server's latency histogram. A request is recorded once its reply is written, which may be
  // after the client already sent its next one: poll until the PUT and the three scrapes show.
  ASSERT_TRUE(
      client.Put("/v1/networks/n2", R"({"port":"consumer0","vlan":9})", "application/json"));
  PromText latency;
  for (int i = 0; i < 200; ++i) {
    auto result = client.Get("/metrics");
    ASSERT_TRUE(result);
    latency = ParsePromText(result->body);
    const auto get_count =
        latency.Value("privlink_api_request_duration_seconds_count", {{"method", "GET"}});
    if (latency.Value("privlink_api_request_duration_seconds_count", {{"method", "PUT"}}) &&
        get_count.value_or(0) >= 3) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(latency.Value("privlink_api_request_duration_seconds_count", {{"method", "PUT"}}), 1);
  const auto gets =
      latency.Value("privlink_api_request_duration_seconds_count", {{"method", "GET"}});
  ASSERT_TRUE(gets.has_value());
  EXPECT_GE(*gets, 3) << "the three scrapes above";
  EXPECT_EQ(latency.Value("privlink_api_request_duration_seconds_bucket",
                          {{"method", "GET"}, {"le", "+Inf"}}),
            gets);
  EXPECT_GT(*latency.Value("privlink_api_request_duration_seconds_sum", {{"method", "GET"}}), 0);
  server.Stop();
  EXPECT_EQ(scrapes[0].Value("privlink_endpoint_bytes_total",
                             {{"endpoint", "contoso-pe"}, {"direction", "in"}}),
            1000);
  EXPECT_EQ(scrapes[2].Value("privlink_flows", {{"state", "established"}}), 3);
  // Every counter series of a scrape is in the next one, with a value at least as high.
  for (size_t i = 1; i < scrapes.size(); ++i) {
    for (const auto& before : scrapes[i - 1].samples) {
      if (scrapes[i - 1].TypeOf(before.name) != "counter") continue;
      const auto after = scrapes[i].Value(before.name, before.labels);
      ASSERT_TRUE(after.has_value()) << before.Series();
      EXPECT_GE(*after, before.value) << before.Series();
    }
  }
  EXPECT_GT(*scrapes[2].Value("privlink_endpoint_bytes_total",
                              {{"endpoint", "contoso-pe"}, {"direction", "in"}}),
            *scrapes[0].Value("privlink_endpoint_bytes_total",
                              {{"endpoint", "contoso-pe"}, {"direction", "in"}}));
  // A rejected change counts, and the counter moves up.
  ASSERT_FALSE(
      control_
          ->Change([](Model&, const WorkflowContext&) { return absl::InvalidArgumentError("no"); })
          .ok());
  EXPECT_EQ(ParsePromText(RenderMetrics(*control_, &stats))
                .Value("privlink_config_changes_total", {{"result", "rejected"}}),
            1);
}

}  // namespace
}  // namespace privlink::control
