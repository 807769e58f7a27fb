// Opens the state core a server was told to use: the embedded SQLite default or an etcd cluster.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "state/state.h"

namespace alto::state {

struct StateLocation {
  std::string url = "sqlite";  // "sqlite" or etcd://host:port[,host:port...][/namespace]
  std::string sqlite_path;     // the file for "sqlite"
  std::string ca_file, cert_file, key_file;  // etcd TLS
  std::string user, password;                // etcd auth
};

// kInvalidArgument for a URL that is neither; kUnavailable when etcd does not answer (the message
// names the endpoints). `executor` runs the SQLite backend's lease timer.
Result<std::unique_ptr<StateStore>> OpenState(const StateLocation& where, const Clock& clock,
                                              boost::asio::any_io_executor executor);

}  // namespace alto::state
