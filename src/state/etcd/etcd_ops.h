// Pieces of the etcd backend shared by the store (etcd_state.cc) and its watches
// (etcd_watch.cc). Internal to src/state/etcd/.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "state/etcd/etcd_client.h"
#include "state/state.h"

namespace alto::state::etcd {

// A mvccpb.KeyValue of the gateway's JSON (bytes in base64, int64s as strings, zeros omitted).
Result<KeyValue> ParseKeyValue(const nlohmann::json& kv);

// The whole of Range, one page at a time at one revision (each page within kMaxResponseBytes).
boost::asio::awaitable<Result<RangeResult>> RangeOn(EtcdClient& client, EtcdConn& conn,
                                                    std::string_view prefix,
                                                    std::string_view start_after, size_t limit,
                                                    Deadline deadline);

// Watches prefix from from_revision (> 0) on a coroutine of executor (see StateStore::Watch).
std::unique_ptr<WatchHandle> StartWatch(std::shared_ptr<EtcdClient> client, std::string prefix,
                                        Revision from_revision,
                                        boost::asio::any_io_executor executor,
                                        std::function<void(WatchBatch)> on_batch);

}  // namespace alto::state::etcd
