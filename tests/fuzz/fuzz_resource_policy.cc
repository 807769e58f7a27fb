// Resource-based policies (api/resource_policy.h): AddPermission bodies and stored policy
// documents, both untrusted. The first byte picks which one the rest of the input is; accepted
// values are checked against what the functions promise: a built statement joins a document that
// stays under 20 KB and reads back byte for byte, and evaluation never allows on an empty policy.
#include <cstdint>
#include <string>
#include <string_view>

#include "api/resource_policy.h"
#include "check.h"

namespace {

alto::auth::Caller Key(const char* account) {
  alto::auth::Caller c;
  c.account_id = account;
  c.access_key_id = "AKIAFUZZ";
  c.admin = true;
  return c;
}

void CheckDocument(const alto::PolicyDoc& doc) {
  const std::string text = alto::PolicyDocJson(doc);
  auto again = alto::ParsePolicyDoc(text);
  FUZZ_CHECK(again.ok(), "a serialized document parses");
  FUZZ_CHECK(alto::PolicyDocJson(*again) == text, "a document round-trips byte for byte");
  FUZZ_CHECK(again->statements.size() == again->policy.statements.size(),
             "every statement has its evaluation view");
  for (const char* action : {"lambda:InvokeFunction", "lambda:GetFunction", "sqs:SendMessage"}) {
    const bool any = alto::ResourcePolicyAllows(*again, Key("111122223333"), action);
    (void)alto::ResourcePolicyAllows(*again, Key("000000000000"), action,
                                     {{"lambda:functionurlauthtype", "AWS_IAM"}});
    (void)alto::ServicePrincipalAllows(*again, "s3.amazonaws.com", "arn:aws:s3:::b", "111122223333",
                                       action);
    FUZZ_CHECK(!any || !again->statements.empty(), "an empty policy allows nothing");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view s(reinterpret_cast<const char*>(data + 1), size - 1);

  if (mode & 1) {
    // A stored document.
    auto doc = alto::ParsePolicyDoc(s);
    if (doc.ok()) {
      FUZZ_CHECK(s.size() <= alto::kMaxResourcePolicyBytes, "an accepted document is bounded");
      CheckDocument(*doc);
      if (!doc->statements.empty()) {
        const std::string sid = doc->statements.front().value("Sid", "");
        FUZZ_CHECK(alto::RemoveStatement(*doc, sid).ok(), "a present Sid is removable");
      }
    }
    return 0;
  }
  // An AddPermission body, added twice to a document: the second is a duplicate.
  auto req = alto::ParseAddPermission(s);
  if (!req.ok()) {
    FUZZ_CHECK(req.error().code == alto::Errc::kInvalidArgument, "bad bodies are invalid input");
    return 0;
  }
  FUZZ_CHECK(alto::IsValidStatementId(req->statement_id), "an accepted body has a valid Sid");
  auto st = alto::BuildStatement(*req, "arn:aws:lambda:us-east-1:000000000000:function:f:live");
  FUZZ_CHECK(st.ok(), "an accepted body builds a statement");
  alto::PolicyDoc doc;
  auto added = alto::AddStatement(doc, *st);
  if (!added.ok()) {
    FUZZ_CHECK(added.error().code == alto::Errc::kTooLarge ||
                   added.error().code == alto::Errc::kInvalidArgument,
               "a refused statement is too large or invalid");
    FUZZ_CHECK(doc.statements.empty(), "a refused statement leaves the document alone");
    return 0;
  }
  FUZZ_CHECK(alto::PolicyDocJson(doc).size() <= alto::kMaxResourcePolicyBytes, "under 20 KB");
  auto dup = alto::AddStatement(doc, *st);
  FUZZ_CHECK(!dup.ok() && dup.error().code == alto::Errc::kConflict, "a duplicate Sid conflicts");
  CheckDocument(doc);
  return 0;
}
