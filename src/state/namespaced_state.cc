#include "state/namespaced_state.h"

namespace alto::state {
namespace {

class NamespacedState final : public StateStore {
 public:
  NamespacedState(std::unique_ptr<StateStore> inner, std::string ns)
      : inner_(std::move(inner)), ns_(std::move(ns)) {}

  Result<KeyValue> Get(std::string_view key) override {
    if (key.empty()) return MakeError(Errc::kInvalidArgument, "empty key");
    auto kv = inner_->Get(In(key));
    if (kv) Strip(*kv);
    return kv;
  }

  Result<RangeResult> Range(std::string_view prefix, std::string_view start_after,
                            size_t limit) override {
    auto r =
        inner_->Range(In(prefix), start_after.empty() ? std::string() : In(start_after), limit);
    if (r) {
      for (auto& kv : r->kvs) Strip(kv);
    }
    return r;
  }

  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<Op>& then,
                        const std::vector<Op>& otherwise) override {
    // An empty key or prefix is an error the backend must see as such, not as the namespace.
    for (const auto* ops : {&then, &otherwise}) {
      for (const auto& op : *ops) {
        if (op.key.empty()) return MakeError(Errc::kInvalidArgument, "empty key");
      }
    }
    for (const auto& x : compares) {
      if (x.key.empty()) return MakeError(Errc::kInvalidArgument, "empty key");
    }
    std::vector<Compare> c = compares;
    for (auto& x : c) x.key = In(x.key);
    return inner_->Txn(c, Map(then), Map(otherwise));
  }

  Result<std::unique_ptr<WatchHandle>> Watch(std::string prefix, Revision from_revision,
                                             boost::asio::any_io_executor executor,
                                             std::function<void(WatchBatch)> on_batch) override {
    return inner_->Watch(In(prefix), from_revision, std::move(executor),
                         [this, on_batch = std::move(on_batch)](WatchBatch batch) {
                           for (auto& e : batch.events) Strip(e.kv);
                           on_batch(std::move(batch));
                         });
  }

  Result<LeaseId> GrantLease(int64_t ttl_seconds) override {
    return inner_->GrantLease(ttl_seconds);
  }
  Status KeepAlive(LeaseId lease) override { return inner_->KeepAlive(lease); }
  Status RevokeLease(LeaseId lease) override { return inner_->RevokeLease(lease); }
  Result<Revision> CurrentRevision() override { return inner_->CurrentRevision(); }
  std::string Describe() const override { return inner_->Describe() + ns_; }

 private:
  std::string In(std::string_view key) const { return ns_ + std::string(key); }
  void Strip(KeyValue& kv) const {
    if (kv.key.starts_with(ns_)) kv.key.erase(0, ns_.size());
  }
  std::vector<Op> Map(const std::vector<Op>& ops) const {
    std::vector<Op> out = ops;
    for (auto& op : out) op.key = In(op.key);
    return out;
  }

  std::unique_ptr<StateStore> inner_;
  const std::string ns_;
};

}  // namespace

std::unique_ptr<StateStore> Namespaced(std::unique_ptr<StateStore> inner, std::string ns) {
  return std::make_unique<NamespacedState>(std::move(inner), std::move(ns));
}

}  // namespace alto::state
