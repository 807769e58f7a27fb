// Code packages between the nodes of a cluster. A package is uploaded to one node; another node
// that needs it (a sandbox start, GetFunction's Code.Location) fetches it from a peer that has it
// and keeps it, checked against its digest. Peers ask each other over the API listener, at
// GET /v1/internal/code/<sha256 hex>, with a token only nodes can make: the node's SecretBox
// (every node of a cluster holds the same secret.key, which the sealed access keys in the state
// already require) seals the token's expiry, bound to the digest it is for.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "common/time.h"
#include "http/client.h"
#include "http/message.h"
#include "state/state.h"
#include "store/code_store.h"
#include "store/secret_box.h"

namespace alto::cluster {

inline constexpr std::string_view kCodePath = "/v1/internal/code/";
inline constexpr std::string_view kNodeTokenHeader = "X-Alto-Node-Token";

class PeerCode final : public CodeSource {
 public:
  PeerCode(std::shared_ptr<state::StateStore> state, std::shared_ptr<const SecretBox> secrets,
           std::string self_id, const Clock& clock, http::FetchOptions fetch)
      : state_(std::move(state)),
        secrets_(std::move(secrets)),
        self_id_(std::move(self_id)),
        clock_(clock),
        fetch_(std::move(fetch)) {}

  // Asks every other registered node in turn; kNotFound naming how many were asked.
  Result<std::string> FetchZip(std::string_view sha256_hex) override;

  // A token for fetching this one package, valid for a minute.
  Result<std::string> MakeToken(std::string_view sha256_hex) const;
  bool TokenValid(std::string_view token, std::string_view sha256_hex) const;

  // Whether a request is a peer's code fetch (served before SigV4: the token is its credential).
  static bool Claims(const http::Request& r) { return r.path.starts_with(kCodePath); }
  // Serves this node's own copy (never fetching on: a package no node has is not found).
  boost::asio::awaitable<http::Response> Serve(http::Request r, const CodeStore& code,
                                               boost::asio::thread_pool& blocking) const;

 private:
  std::shared_ptr<state::StateStore> state_;
  std::shared_ptr<const SecretBox> secrets_;
  std::string self_id_;
  const Clock& clock_;
  http::FetchOptions fetch_;
};

}  // namespace alto::cluster
