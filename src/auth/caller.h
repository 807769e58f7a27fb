// Who a verified request comes from (IAM's principal; named Caller because policy.h's Principal
// is the policy element): the account it acts in and the key it signed with. Every request past
// the auth gate carries one.
#pragma once

#include <memory>
#include <string>

namespace alto::auth {

struct Policy;

struct Caller {
  std::string account_id;
  std::string access_key_id;
  // A key without a policy is its account's administrator: anything in its own account.
  bool admin = false;
  std::shared_ptr<const Policy> policy;  // set when !admin
  // IAM-style caller ARN, for messages and policies: arn:aws:iam::<account>:user/<key id>.
  std::string Arn() const { return "arn:aws:iam::" + account_id + ":user/" + access_key_id; }
};

}  // namespace alto::auth
