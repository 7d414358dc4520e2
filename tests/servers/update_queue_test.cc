// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The broker's per-subscriber queue and fan-out, in process.

#include <gtest/gtest.h>

#include "storage_broker/broker.h"

namespace neon::broker {
namespace {

Info MakeInfo(uint64_t sk, char timeline, uint64_t commit) {
  Info i;
  i.set_safekeeper_id(sk);
  i.mutable_tenant_timeline_id()->set_tenant_id(std::string(kIdBytes, 't'));
  i.mutable_tenant_timeline_id()->set_timeline_id(std::string(kIdBytes, timeline));
  i.set_commit_lsn(commit);
  return i;
}

TEST(UpdateQueueTest, KeepsNewestValuePerKeyInArrivalOrder) {
  UpdateQueue q(10);
  EXPECT_EQ(q.Push("a", WrapInfo(MakeInfo(1, 'a', 1))), 0);
  EXPECT_EQ(q.Push("b", WrapInfo(MakeInfo(1, 'b', 2))), 0);
  EXPECT_EQ(q.Push("a", WrapInfo(MakeInfo(1, 'a', 3))), 1);  // replaces, keeps a's place
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.Pop()->safekeeper_timeline_info().commit_lsn(), 3u);
  EXPECT_EQ(q.Pop()->safekeeper_timeline_info().commit_lsn(), 2u);
  EXPECT_FALSE(q.Pop().has_value());
}

TEST(UpdateQueueTest, EvictsOldestKeyWhenFull) {
  UpdateQueue q(2);
  EXPECT_EQ(q.Push("a", WrapInfo(MakeInfo(1, 'a', 1))), 0);
  EXPECT_EQ(q.Push("b", WrapInfo(MakeInfo(1, 'b', 2))), 0);
  EXPECT_EQ(q.Push("c", WrapInfo(MakeInfo(1, 'c', 3))), 1);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.Pop()->safekeeper_timeline_info().commit_lsn(), 2u);
  EXPECT_EQ(q.Pop()->safekeeper_timeline_info().commit_lsn(), 3u);
}

class Recorder : public Subscriber {
 public:
  void Offer(const std::string& key, const Msg& msg) override {
    if (msg.has_safekeeper_timeline_info()) {
      got.push_back(msg.safekeeper_timeline_info());
    } else {
      typed.push_back(msg);
    }
  }
  std::vector<Info> got;
  std::vector<Msg> typed;
};

TEST(BrokerFanOutTest, FansOutByFilter) {
  server::MetricsRegistry metrics;
  Broker broker(&metrics);
  auto all = std::make_shared<Recorder>();
  auto one = std::make_shared<Recorder>();
  broker.Subscribe(all, std::nullopt);
  std::string key;
  ASSERT_TRUE(TimelineKey(MakeInfo(1, 'a', 0).tenant_timeline_id(), &key).ok());
  broker.Subscribe(one, key);
  EXPECT_EQ(broker.subscriber_count(), 2u);
  ASSERT_TRUE(broker.Publish(MakeInfo(1, 'a', 10)).ok());
  ASSERT_TRUE(broker.Publish(MakeInfo(2, 'b', 20)).ok());
  EXPECT_EQ(all->got.size(), 2u);
  ASSERT_EQ(one->got.size(), 1u);
  EXPECT_EQ(one->got[0].commit_lsn(), 10u);

  Info bad = MakeInfo(1, 'a', 0);
  bad.mutable_tenant_timeline_id()->set_tenant_id("short");
  EXPECT_EQ(broker.Publish(bad).code(), absl::StatusCode::kInvalidArgument);

  broker.Unsubscribe(one.get());
  broker.Unsubscribe(all.get());
  EXPECT_EQ(broker.subscriber_count(), 0u);
  ASSERT_TRUE(broker.Publish(MakeInfo(1, 'a', 30)).ok());
  EXPECT_EQ(all->got.size(), 2u);
  EXPECT_NE(metrics.Render().find("storage_broker_published_messages_total 3"), std::string::npos);
}

TEST(BrokerFanOutTest, FiltersByMessageType) {
  server::MetricsRegistry metrics;
  Broker broker(&metrics);
  auto infos = std::make_shared<Recorder>();
  auto discovery = std::make_shared<Recorder>();
  broker.Subscribe(infos, std::nullopt, kInfoOnly);
  broker.Subscribe(discovery, std::nullopt,
                   TypeBit(storage_broker::SAFEKEEPER_DISCOVERY_REQUEST) |
                       TypeBit(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE));
  Msg req;
  req.set_type(storage_broker::SAFEKEEPER_DISCOVERY_REQUEST);
  *req.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id() =
      MakeInfo(1, 'a', 0).tenant_timeline_id();
  ASSERT_TRUE(broker.Publish(req).ok());
  ASSERT_TRUE(broker.Publish(MakeInfo(1, 'a', 10)).ok());
  EXPECT_EQ(infos->got.size(), 1u);
  EXPECT_TRUE(infos->typed.empty());
  ASSERT_EQ(discovery->typed.size(), 1u);
  EXPECT_TRUE(discovery->got.empty());

  Msg wrong;  // the type names a field that is absent
  wrong.set_type(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
  EXPECT_EQ(broker.Publish(wrong).code(), absl::StatusCode::kInvalidArgument);
  Msg unknown;
  EXPECT_EQ(broker.Publish(unknown).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace neon::broker
