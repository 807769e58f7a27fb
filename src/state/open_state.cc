#include "state/open_state.h"

#include "state/etcd/etcd_state.h"
#include "state/namespaced_state.h"
#include "state/sqlite/sqlite_state.h"

namespace alto::state {

Result<std::unique_ptr<StateStore>> OpenState(const StateLocation& where, const Clock& clock,
                                              boost::asio::any_io_executor executor) {
  if (where.url.empty() || where.url == "sqlite") {
    auto s = OpenSqliteState(where.sqlite_path, clock, std::move(executor));
    if (!s) return s.error();
    return std::unique_ptr<StateStore>(std::move(*s));
  }
  constexpr std::string_view kEtcd = "etcd://";
  if (!where.url.starts_with(kEtcd)) {
    return MakeError(Errc::kInvalidArgument,
                     "--state " + where.url + ": expected sqlite or etcd://host:port[,...][/ns]");
  }
  // The namespace: whatever follows the endpoints' list after a '/'.
  std::string rest = where.url.substr(kEtcd.size());
  std::string ns;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    ns = rest.substr(slash);
    rest.resize(slash);
    while (ns.size() > 1 && ns.back() == '/') ns.pop_back();
    if (ns == "/") ns.clear();
    if (ns.find_first_of(" \t\r\n") != std::string::npos || ns.size() > 256) {
      return MakeError(Errc::kInvalidArgument, "--state: the namespace " + ns + " is not valid");
    }
  }
  auto options = ParseEtcdUrl(std::string(kEtcd) + rest);
  if (!options) return options.error();
  options->ca_file = where.ca_file;
  options->cert_file = where.cert_file;
  options->key_file = where.key_file;
  options->user = where.user;
  options->password = where.password;
  auto etcd = OpenEtcdState(std::move(*options));
  if (!etcd) return etcd.error();
  if (ns.empty()) return std::move(*etcd);
  return Namespaced(std::move(*etcd), ns);
}

}  // namespace alto::state
