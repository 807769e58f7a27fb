#include "sandbox/sandbox.h"

#include <sys/wait.h>

#include "sandbox/runtimes.h"

namespace alto {

Sandbox::Sandbox(std::string id, ChildProcess child, UniqueFd listener,
                 std::unique_ptr<SandboxResources> resources, bool exit_code_encodes_signal)
    : id_(std::move(id)),
      child_(std::move(child)),
      listener_(std::move(listener)),
      resources_(std::move(resources)),
      exit_code_encodes_signal_(exit_code_encodes_signal) {}

Sandbox::~Sandbox() {
  // SIGKILL to the init: the kernel then kills every process of its pid namespace at once. The
  // resources (cgroups, mounts, network) are released once it is reaped, with nothing left in
  // them.
  child_.Kill();
  child_.Wait();
  resources_.reset();
}

std::string Sandbox::DescribeExit(int status) const {
  // runc reports a container killed by signal N as exit status 128+N.
  if (exit_code_encodes_signal_ && WIFEXITED(status) && WEXITSTATUS(status) > 128) {
    int sig = WEXITSTATUS(status) - 128;
    return DescribeWaitStatus(sig & 0x7f);  // a raw signal number is a valid "signaled" status
  }
  return DescribeWaitStatus(status);
}

std::vector<std::string> BaseRuntimeEnv(const SandboxSpec& spec, const std::string& task_root,
                                        const std::string& runtime_dir,
                                        const std::string& runtime_api_address) {
  std::vector<std::string> env =
      spec.env;  // user variables (reserved names are refused at the API)
  const RuntimeInfo* rt = FindRuntime(spec.runtime);
  env.push_back("AWS_LAMBDA_RUNTIME_API=" + runtime_api_address);
  env.push_back("LAMBDA_TASK_ROOT=" + task_root);
  env.push_back("LAMBDA_RUNTIME_DIR=" + runtime_dir);
  env.push_back("PATH=/usr/local/bin:/usr/bin:/bin:" + task_root + "/bin");
  env.push_back("LD_LIBRARY_PATH=" + task_root + ":" + task_root + "/lib");
  env.push_back("LANG=en_US.UTF-8");
  env.push_back("TZ=:UTC");
  env.push_back("HOME=/tmp");
  if (rt && !rt->execution_env.empty())
    env.push_back("AWS_EXECUTION_ENV=" + std::string(rt->execution_env));
  return env;
}

}  // namespace alto
