// A snapshot built from the previous one and the two models' differences gives exactly the
// lookups of one built from scratch, over random sequences of workflow changes (endpoints created
// and deleted, connections approved, rejected and removed, services' rules and teardown policy
// changed, services deleted and created again); and it shares what the change did not touch.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "control/model/workflow.h"
#include "control/snapshot/snapshot_builder.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using namespace privlink::control::testing;

// Everything a reader can look up, as ordered values.
struct Lookups {
  std::map<std::tuple<NetworkId, PortBe, Ipv4Be>, std::tuple<EndpointId, ServiceId, PortBe, bool>>
      pe;
  std::map<std::pair<NetworkId, Ipv4Be>, EndpointId> by_ip;
  std::map<EndpointId, std::string> names;
  std::map<EndpointId, uint32_t> link_ids;
  std::map<EndpointId, std::tuple<ServiceId, bool, TeardownPolicy>> entries;
  std::map<ServiceId, std::string> services;
  std::vector<Ipv4Be> nat_ips;
  bool operator==(const Lookups&) const = default;
};

Lookups Read(const Snapshot& s) {
  Lookups l;
  s.pe_lookup.ForEach([&](const PeKey& k, const PeTarget& t) {
    l.pe[{k.network, k.frontend_port, k.ip}] = {t.endpoint, t.service, t.backend_port, t.approved};
  });
  s.endpoints_by_ip.ForEach([&](const auto& k, EndpointId id) { l.by_ip[k] = id; });
  s.endpoint_names.ForEach([&](EndpointId id, const std::string& n) { l.names[id] = n; });
  s.link_ids.ForEach([&](EndpointId id, uint32_t link) { l.link_ids[id] = link; });
  for (EndpointId id = 0; id < s.endpoints.size(); ++id) {
    const EndpointEntry e = s.Endpoint(id);
    if (e.service != kNoService) l.entries[id] = {e.service, e.carries_traffic, e.teardown};
  }
  for (ServiceId id = 0; id < s.services.size(); ++id) {
    if (s.services[id] != nullptr) l.services[id] = s.services[id]->name;
  }
  l.nat_ips = s.nat_ips;
  for (Ipv4Be ip : s.nat_ips) EXPECT_TRUE(s.IsNatIp(ip));
  EXPECT_EQ(s.nat_ip_set.size(), s.nat_ips.size());
  return l;
}

class IncrementalSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    context_.uuids = &uuids_;
    ResourceDocument doc;
    doc.networks = {MakeNetwork("n0"), MakeNetwork("n1", "consumer0", 5)};
    for (int s = 0; s < 4; ++s) {
      const std::string ip = "192.168.20." + std::to_string(100 + s);
      doc.services.push_back(
          MakeService("s" + std::to_string(s), "prov", {Ip(ip.c_str())}, {"*"},
                      s % 2 == 0 ? std::vector<std::string>{"sub"} : std::vector<std::string>{}));
    }
    ASSERT_TRUE(ApplyDocument(model_, doc, context_).ok());
  }

  // One random change; failures (a name taken, nothing to delete) are fine: the model is a copy.
  void RandomChange(std::mt19937& rng, Model& m) {
    const std::string pe = "pe" + std::to_string(rng() % 40);
    const std::string service = "s" + std::to_string(rng() % 4);
    switch (rng() % 9) {
      case 0:
      case 1:
      case 2: {
        const std::string ip = "10.0.0." + std::to_string(1 + rng() % 60);
        (void)PutEndpoint(m,
                          MakeEndpoint(pe, rng() % 2 ? "sub" : "other", rng() % 2 ? "n0" : "n1",
                                       ip.c_str(), service),
                          "");
        break;
      }
      case 3:
        (void)DeleteEndpoint(m, pe);
        break;
      case 4:
        (void)ApproveConnection(m, service, pe, "");
        break;
      case 5:
        (void)RejectConnection(m, service, pe, "no");
        break;
      case 6:
        (void)DeleteConnection(m, service, pe);
        break;
      case 7: {
        auto it = m.services.find(service);
        if (it == m.services.end()) break;
        ServiceRequest r{it->second, {}};
        r.service.load_balancing_rules = {{static_cast<uint16_t>(80 + rng() % 3), 8080}};
        if (rng() % 2) r.service.load_balancing_rules.push_back({443, 8443});
        r.service.connection_teardown = rng() % 2 ? TeardownPolicy::kDrain : TeardownPolicy::kReset;
        (void)PutService(m, r, context_, "");
        break;
      }
      default:
        if (DeleteService(m, service).ok()) break;
        // Recreated at once in the same change where it could be deleted: a new id.
        break;
    }
  }

  SequentialUuids uuids_;
  WorkflowContext context_;
  SnapshotOptions options_{.maglev_table_size = 251, .consumer_ports = {"consumer0"}};
  Model model_;
};

TEST_F(IncrementalSnapshotTest, GivesTheLookupsOfAFullBuildAfterEveryChange) {
  std::mt19937 rng(3);
  auto previous = BuildSnapshot(model_, 1, options_);
  ASSERT_TRUE(previous.ok());
  std::unique_ptr<Snapshot> last = std::move(*previous);
  for (int step = 0; step < 400; ++step) {
    Model next = model_;
    const int changes = step % 10 == 0 ? 12 : 1;  // some steps are bulk changes
    for (int i = 0; i < changes; ++i) RandomChange(rng, next);
    if (step % 50 == 25) {  // a deleted service's name created again: a new id, old records gone
      std::vector<std::string> held;
      if (auto s1 = next.services.find("s1"); s1 != next.services.end()) {
        for (const auto& [pe, c] : s1->second.connections) held.push_back(pe);
      }
      for (const std::string& pe : held) {
        (void)DeleteEndpoint(next, pe);  // leaves the record Disconnected
        (void)DeleteConnection(next, "s1", pe);
      }
      (void)DeleteService(next, "s1");
      ASSERT_TRUE(
          PutService(next, MakeService("s1", "prov", {Ip("192.168.20.101")}), context_, "").ok());
    }
    auto incremental = BuildSnapshot(next, step + 2, options_, {last.get(), &model_});
    auto full = BuildSnapshot(next, step + 2, options_);
    ASSERT_TRUE(incremental.ok() && full.ok());
    const Lookups got = Read(**incremental);
    const Lookups want = Read(**full);
    EXPECT_EQ(got.pe, want.pe) << "step " << step;
    EXPECT_EQ(got.by_ip, want.by_ip) << "step " << step;
    EXPECT_EQ(got.names, want.names) << "step " << step;
    EXPECT_EQ(got.link_ids, want.link_ids) << "step " << step;
    EXPECT_EQ(got.entries, want.entries) << "step " << step;
    EXPECT_EQ(got.services, want.services) << "step " << step;
    ASSERT_EQ(got, want) << "step " << step;
    model_ = std::move(next);
    last = std::move(*incremental);
  }
  EXPECT_GT(model_.endpoints.size(), 5u);
}

TEST_F(IncrementalSnapshotTest, AChangeToOneEndpointSharesTheOtherBuckets) {
  for (int i = 0; i < 3000; ++i) {
    const std::string ip =
        "10." + std::to_string(1 + i / 250) + "." + std::to_string(i % 250) + ".1";
    ASSERT_TRUE(PutEndpoint(model_,
                            MakeEndpoint("pe" + std::to_string(i), "sub", "n0", ip.c_str(), "s0"),
                            "")
                    .ok());
  }
  auto first = BuildSnapshot(model_, 1, options_);
  ASSERT_TRUE(first.ok());
  Model next = model_;
  ASSERT_TRUE(DeleteEndpoint(next, "pe17").ok());
  auto second = BuildSnapshot(next, 2, options_, {first->get(), &model_});
  ASSERT_TRUE(second.ok());
  const Snapshot& a = **first;
  const Snapshot& b = **second;
  EXPECT_EQ(b.pe_lookup.size() + 1, a.pe_lookup.size());
  // One bucket of each table copied, the rest shared; the services untouched are shared whole.
  const size_t buckets = a.pe_lookup.SharedBuckets(a.pe_lookup);
  EXPECT_EQ(b.pe_lookup.SharedBuckets(a.pe_lookup), buckets - 1);
  EXPECT_EQ(b.endpoint_names.SharedBuckets(a.endpoint_names),
            a.endpoint_names.SharedBuckets(a.endpoint_names) - 1);
  for (ServiceId id = 0; id < a.services.size(); ++id) {
    if (a.services[id] != nullptr && a.services[id]->name != "s0") {
      EXPECT_EQ(a.services[id], b.services[id]);
    }
  }
}

}  // namespace
}  // namespace privlink::control

namespace privlink::control {
namespace {

// A backend's health changes no model: the build is told which services to redo. Their entries
// then equal a full build's (Maglev table included) and the others stay shared.
TEST(IncrementalHealthTest, AHealthChangeRedoesItsServiceLikeAFullBuild) {
  SequentialUuids uuids;
  WorkflowContext context;
  context.uuids = &uuids;
  Model model;
  for (int s = 0; s < 2; ++s) {
    const std::string nat = "192.168.20." + std::to_string(100 + s);
    ServiceRequest r = MakeService("s" + std::to_string(s), "prov", {Ip(nat.c_str())});
    r.service.backends.clear();
    for (int b = 0; b < 3; ++b) {
      const std::string ip = "192.168.10." + std::to_string(10 * s + b + 11);
      r.service.backends.push_back({Ip(ip.c_str()), 1, BackendState::kActive});
    }
    r.service.probe = HealthProbe{.port = 8080, .on_down = ProbeDownAction::kReset};
    const absl::Status put = PutService(model, r, context, "").status();
    ASSERT_TRUE(put.ok()) << put;
  }
  BackendDownSet down;
  SnapshotOptions options{.maglev_table_size = 251, .down_backends = &down};
  auto first = BuildSnapshot(model, 1, options);
  ASSERT_TRUE(first.ok());
  const ServiceId s0 = model.services.at("s0").id;
  const ServiceId s1 = model.services.at("s1").id;
  const Ipv4Be gone = Ip("192.168.10.12");
  ASSERT_TRUE(down.Set(s0, gone, true));
  const ServiceId changed[] = {s0};
  auto incremental = BuildSnapshot(
      model, 2, options, {.snapshot = first->get(), .model = &model, .health_changed = changed});
  auto full = BuildSnapshot(model, 2, options);
  ASSERT_TRUE(incremental.ok() && full.ok());
  const SnapshotService& got = *(*incremental)->Service(s0);
  const SnapshotService& want = *(*full)->Service(s0);
  EXPECT_EQ(got.backends, want.backends);
  EXPECT_FALSE(got.backends[1].healthy);
  EXPECT_EQ(got.reset_backends, std::vector<Ipv4Be>{gone});
  ASSERT_EQ(got.maglev.size(), want.maglev.size());
  for (uint32_t i = 0; i < got.maglev.size(); ++i) {
    ASSERT_EQ(got.maglev.Pick(i), want.maglev.Pick(i)) << "slot " << i;
    ASSERT_NE(got.maglev.Pick(i), 1u) << "the down backend keeps no slot";
  }
  EXPECT_EQ((*incremental)->services[s1], (*first)->services[s1]) << "the other service shared";
  // Without being told, the build keeps the previous entry: health is not in the models.
  auto untold = BuildSnapshot(model, 2, options, {.snapshot = first->get(), .model = &model});
  ASSERT_TRUE(untold.ok());
  EXPECT_EQ((*untold)->services[s0], (*first)->services[s0]);
}

}  // namespace
}  // namespace privlink::control
