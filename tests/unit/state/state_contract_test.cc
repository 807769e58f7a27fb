// The state core's contract, part 1: reads, revisions, transactions, limits, restart and
// concurrent writers. Watches and leases are in state_contract_watch_test.cc. Every backend runs
// these (see contract.h); keys are spread over per-test prefixes and revisions are compared
// relative to each other, so a backend may share one server between tests.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "contract.h"
#include "contract_util.h"
#include "state/state.h"

namespace alto::state::testing {

// Each backend instantiates the suite from its own file; a build may have none of them.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StateContractTest);

namespace {

TEST(PrefixEndTest, BumpsTheLastByteThatCanBeBumped) {
  EXPECT_EQ(PrefixEnd("a/"), "a0");
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd("t~"), "t\x7f");
  EXPECT_EQ(PrefixEnd(std::string("a\x7f", 2)), "a\x80");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("a\xfe\xff\xff", 4)), "a\xff");
  // Nothing sorts after every key starting with 0xff bytes, and "" has no end either.
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixEnd(""), "");
}

TEST(ValidateKeyTest, EnforcesTheSharedLimits) {
  EXPECT_TRUE(ValidateKey("functions/a").ok());
  EXPECT_TRUE(ValidateKey(std::string(kMaxKeyBytes, 'k')).ok());
  EXPECT_EQ(ErrorOf(ValidateKey("")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(ValidateKey(std::string(kMaxKeyBytes + 1, 'k'))), Errc::kTooLarge);
  EXPECT_EQ(ErrorOf(ValidateKey("a\x7f")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(ValidateKey("a\xff")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(ValidateKey(std::string("a\0b", 3))), Errc::kInvalidArgument);
}

TEST_P(StateContractTest, GetAbsentThenPresent) {
  EXPECT_EQ(ErrorOf(store().Get("get/k")), Errc::kNotFound);
  Must(store().Put("get/k", "v1"));
  auto kv = Must(store().Get("get/k"));
  EXPECT_EQ(kv.key, "get/k");
  EXPECT_EQ(kv.value, "v1");
  EXPECT_EQ(kv.lease, 0);
  // Values are bytes, not text.
  std::string binary("\0\xff\x01", 3);
  Must(store().Put("get/bin", binary));
  EXPECT_EQ(Must(store().Get("get/bin")).value, binary);
  Must(store().Put("get/empty", ""));
  EXPECT_EQ(Must(store().Get("get/empty")).value, "");
}

TEST_P(StateContractTest, RevisionsAndVersionsAcrossPuts) {
  Revision r0 = Must(store().CurrentRevision());
  Revision r1 = Must(store().Put("rev/k", "1")).revision;
  EXPECT_EQ(r1, r0 + 1);
  auto kv = Must(store().Get("rev/k"));
  EXPECT_EQ(kv.create_revision, r1);
  EXPECT_EQ(kv.mod_revision, r1);
  EXPECT_EQ(kv.version, 1);

  Revision r2 = Must(store().Put("rev/k", "2")).revision;
  EXPECT_EQ(r2, r1 + 1);
  kv = Must(store().Get("rev/k"));
  EXPECT_EQ(kv.value, "2");
  EXPECT_EQ(kv.create_revision, r1);
  EXPECT_EQ(kv.mod_revision, r2);
  EXPECT_EQ(kv.version, 2);

  // Another key's write raises the store's revision, not this key's.
  Revision r3 = Must(store().Put("rev/other", "x")).revision;
  EXPECT_EQ(r3, r2 + 1);
  EXPECT_EQ(Must(store().Get("rev/k")).mod_revision, r2);
  EXPECT_EQ(Must(store().CurrentRevision()), r3);
  EXPECT_EQ(Must(store().Range("rev/")).revision, r3);

  // Deleted and put again: a new key, version 1.
  Revision r4 = Must(store().Delete("rev/k")).revision;
  EXPECT_EQ(r4, r3 + 1);
  Revision r5 = Must(store().Put("rev/k", "3")).revision;
  kv = Must(store().Get("rev/k"));
  EXPECT_EQ(kv.create_revision, r5);
  EXPECT_EQ(kv.version, 1);
}

TEST_P(StateContractTest, RangeByPrefixPagesWithStartAfterAndLimit) {
  for (const char* k : {"rg/c", "rg/a", "rg/", "rg/d", "rg/b", "rg0", "rg", "rf/z", "rh"}) {
    Must(store().Put(k, std::string("v:") + k));
  }
  auto keys = [](const RangeResult& r) {
    std::vector<std::string> out;
    for (const auto& kv : r.kvs) out.push_back(kv.key);
    return out;
  };
  using V = std::vector<std::string>;
  auto all = Must(store().Range("rg/"));
  EXPECT_EQ(keys(all), (V{"rg/", "rg/a", "rg/b", "rg/c", "rg/d"}));
  EXPECT_FALSE(all.more);
  EXPECT_EQ(all.kvs[1].value, "v:rg/a");
  EXPECT_EQ(all.revision, Must(store().CurrentRevision()));

  auto page = Must(store().Range("rg/", "", 2));
  EXPECT_EQ(keys(page), (V{"rg/", "rg/a"}));
  EXPECT_TRUE(page.more);
  page = Must(store().Range("rg/", "rg/a", 2));
  EXPECT_EQ(keys(page), (V{"rg/b", "rg/c"}));
  EXPECT_TRUE(page.more);
  page = Must(store().Range("rg/", "rg/c", 2));
  EXPECT_EQ(keys(page), (V{"rg/d"}));
  EXPECT_FALSE(page.more);
  page = Must(store().Range("rg/", "rg/d", 2));
  EXPECT_TRUE(page.kvs.empty());
  EXPECT_FALSE(page.more);
  // Exactly `limit` left: no more.
  page = Must(store().Range("rg/", "rg/b", 2));
  EXPECT_EQ(keys(page), (V{"rg/c", "rg/d"}));
  EXPECT_FALSE(page.more);
  // A start_after before the prefix starts from its first key; one between keys works too.
  EXPECT_EQ(keys(Must(store().Range("rg/", "a"))).size(), 5u);
  EXPECT_EQ(keys(Must(store().Range("rg/", "rg/b0"))), (V{"rg/c", "rg/d"}));

  // "rg" covers "rg", "rg/..." and "rg0" but not its neighbours.
  EXPECT_EQ(keys(Must(store().Range("rg"))),
            (V{"rg", "rg/", "rg/a", "rg/b", "rg/c", "rg/d", "rg0"}));
  EXPECT_TRUE(Must(store().Range("rg/e")).kvs.empty());
}

TEST_P(StateContractTest, RangeEndsAtPrefixEndForTheLastPrintableByte) {
  // '~' (0x7e) is the last printable byte: the prefix's end is "pe~" + 1 = "pe\x7f".
  for (const char* k : {"pe~", "pe~~", "pe~a/b", "pe}", "pe}~", "pf"}) Must(store().Put(k, "v"));
  std::vector<std::string> got;
  for (const auto& kv : Must(store().Range("pe~")).kvs) got.push_back(kv.key);
  EXPECT_EQ(got, (std::vector<std::string>{"pe~", "pe~a/b", "pe~~"}));
  got.clear();
  for (const auto& kv : Must(store().Range("pe~~")).kvs) got.push_back(kv.key);
  EXPECT_EQ(got, (std::vector<std::string>{"pe~~"}));
}

TEST_P(StateContractTest, TxnAppliesThenWhenEveryCompareHolds) {
  Revision a = Must(store().Put("tx/a", "1")).revision;
  auto r = Must(store().Txn({{"tx/a", a}}, {Op::Put("tx/a", "2"), Op::Put("tx/b", "new")},
                            {Op::Put("tx/else", "x")}));
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, a + 1);
  // All of a transaction's writes carry its one revision.
  EXPECT_EQ(Must(store().Get("tx/a")).mod_revision, r.revision);
  EXPECT_EQ(Must(store().Get("tx/b")).mod_revision, r.revision);
  EXPECT_EQ(Must(store().Get("tx/a")).value, "2");
  EXPECT_EQ(ErrorOf(store().Get("tx/else")), Errc::kNotFound);
}

TEST_P(StateContractTest, TxnAppliesOtherwiseWhenACompareFails) {
  Revision a = Must(store().Put("tf/a", "1")).revision;
  Must(store().Put("tf/a", "2"));  // tf/a's mod revision moves past a
  auto r = Must(store().Txn({{"tf/a", a}}, {Op::Put("tf/a", "lost")},
                            {Op::Put("tf/else", "x"), Op::Delete("tf/a")}));
  EXPECT_FALSE(r.succeeded);
  EXPECT_EQ(r.revision, Must(store().CurrentRevision()));
  EXPECT_EQ(Must(store().Get("tf/else")).value, "x");
  EXPECT_EQ(ErrorOf(store().Get("tf/a")), Errc::kNotFound);
}

TEST_P(StateContractTest, CompareWithZeroMeansAbsent) {
  auto r = Must(store().Txn({{"ca/k", 0}}, {Op::Put("ca/k", "first")}, {}));
  EXPECT_TRUE(r.succeeded);
  // Create-if-absent does not overwrite.
  r = Must(store().Txn({{"ca/k", 0}}, {Op::Put("ca/k", "second")}, {}));
  EXPECT_FALSE(r.succeeded);
  EXPECT_EQ(Must(store().Get("ca/k")).value, "first");
  // A present key's real revision holds, 0 does not; after a delete, 0 holds again.
  Revision mod = Must(store().Get("ca/k")).mod_revision;
  EXPECT_TRUE(Must(store().Txn({{"ca/k", mod}}, {Op::Delete("ca/k")})).succeeded);
  EXPECT_TRUE(Must(store().Txn({{"ca/k", 0}}, {})).succeeded);
}

TEST_P(StateContractTest, EveryCompareMustHold) {
  Revision a = Must(store().Put("mc/a", "1")).revision;
  Revision b = Must(store().Put("mc/b", "1")).revision;
  auto r = Must(store().Txn({{"mc/a", a}, {"mc/b", b}, {"mc/none", 0}}, {Op::Put("mc/ok", "1")},
                            {Op::Put("mc/failed", "1")}));
  EXPECT_TRUE(r.succeeded);
  r = Must(store().Txn({{"mc/a", a}, {"mc/b", a}}, {Op::Put("mc/ok2", "1")},
                       {Op::Put("mc/failed", "1")}));
  EXPECT_FALSE(r.succeeded);
  EXPECT_EQ(ErrorOf(store().Get("mc/ok2")), Errc::kNotFound);
  EXPECT_TRUE(store().Get("mc/failed").ok());
}

TEST_P(StateContractTest, DeletePrefixRemovesOnlyKeysUnderIt) {
  for (const char* k : {"dp/a", "dp/b", "dp/c/d", "dp", "dpx", "dp0"}) Must(store().Put(k, "v"));
  Revision before = Must(store().CurrentRevision());
  auto r = Must(store().Txn({}, {Op::DeletePrefix("dp/")}));
  EXPECT_EQ(r.revision, before + 1);  // three keys, one revision
  EXPECT_TRUE(Must(store().Range("dp/")).kvs.empty());
  for (const char* k : {"dp", "dpx", "dp0"}) EXPECT_TRUE(store().Get(k).ok()) << k;
  // Nothing left under it: nothing changes.
  r = Must(store().Txn({}, {Op::DeletePrefix("dp/")}));
  EXPECT_EQ(r.revision, before + 1);
}

TEST_P(StateContractTest, TransactionThatChangesNothingKeepsTheRevision) {
  Revision before = Must(store().Put("noop/k", "v")).revision;
  EXPECT_EQ(Must(store().Delete("noop/absent")).revision, before);
  EXPECT_EQ(Must(store().Txn({}, {})).revision, before);
  auto failed = Must(store().Txn({{"noop/k", 0}}, {Op::Put("noop/k", "x")}));
  EXPECT_FALSE(failed.succeeded);
  EXPECT_EQ(failed.revision, before);
  EXPECT_EQ(Must(store().Txn({}, {Op::Delete("noop/a"), Op::DeletePrefix("noop/none/")})).revision,
            before);
  EXPECT_EQ(Must(store().CurrentRevision()), before);
  // Putting the same value again is a change (etcd's model): a new revision and version.
  auto again = Must(store().Put("noop/k", "v"));
  EXPECT_EQ(again.revision, before + 1);
  EXPECT_EQ(Must(store().Get("noop/k")).version, 2);
}

TEST_P(StateContractTest, LimitsAreRefusedAndNothingIsWritten) {
  Revision before = Must(store().CurrentRevision());
  std::vector<Op> too_many;
  for (size_t i = 0; i <= kMaxTxnOps; ++i)
    too_many.push_back(Op::Put("lim/" + std::to_string(i), "v"));
  EXPECT_EQ(ErrorOf(store().Put("", "v")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(store().Put("lim/" + std::string(kMaxKeyBytes, 'k'), "v")), Errc::kTooLarge);
  EXPECT_EQ(ErrorOf(store().Put("lim/big", std::string(kMaxValueBytes + 1, 'v'))), Errc::kTooLarge);
  EXPECT_EQ(ErrorOf(store().Txn({}, too_many)), Errc::kTooLarge);
  EXPECT_EQ(ErrorOf(store().Txn({}, {Op::DeletePrefix("")})), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(store().Delete("")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(store().Txn({{"", 0}}, {Op::Put("lim/a", "v")})), Errc::kInvalidArgument);
  // Keys are printable ASCII (state.h), so both backends treat them as text.
  EXPECT_EQ(ErrorOf(store().Put("lim/\x7f", "v")), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorOf(store().Put("lim/\xff", "v")), Errc::kInvalidArgument);
  // A bad op in either branch refuses the whole transaction, whichever branch would run.
  EXPECT_EQ(ErrorOf(store().Txn({}, {Op::Put("lim/a", "v")}, {Op::Put("", "v")})),
            Errc::kInvalidArgument);
  // Writing one key twice in a branch is refused (etcd: "duplicate key given in txn request").
  EXPECT_EQ(ErrorOf(store().Txn({}, {Op::Put("lim/a", "1"), Op::Put("lim/a", "2")})),
            Errc::kInvalidArgument);
  // Two values at the limit each pass the transaction's total (etcd's 1.5 MiB request).
  EXPECT_EQ(ErrorOf(store().Txn({}, {Op::Put("lim/x", std::string(kMaxValueBytes, 'x')),
                                     Op::Put("lim/y", std::string(kMaxValueBytes, 'y'))})),
            Errc::kTooLarge);
  EXPECT_EQ(Must(store().CurrentRevision()), before);
  EXPECT_TRUE(Must(store().Range("lim/")).kvs.empty());

  // At the limits it works.
  too_many.pop_back();
  EXPECT_TRUE(store().Txn({}, too_many).ok());
  EXPECT_TRUE(store().Put(std::string(kMaxKeyBytes, 'k'), "v").ok());
  EXPECT_TRUE(store().Put("lim/big", std::string(kMaxValueBytes, 'v')).ok());
  EXPECT_EQ(Must(store().Get("lim/big")).value.size(), kMaxValueBytes);
}

TEST_P(StateContractTest, ReopenKeepsDataAndRevision) {
  Must(store().Put("ro/a", "1"));
  Must(store().Put("ro/b", "2"));
  Revision del = Must(store().Delete("ro/b")).revision;
  auto a = Must(store().Get("ro/a"));
  backend().Reopen();
  EXPECT_EQ(Must(store().CurrentRevision()), del);
  auto again = Must(store().Get("ro/a"));
  EXPECT_EQ(again.value, "1");
  EXPECT_EQ(again.create_revision, a.create_revision);
  EXPECT_EQ(again.mod_revision, a.mod_revision);
  EXPECT_EQ(again.version, a.version);
  EXPECT_EQ(ErrorOf(store().Get("ro/b")), Errc::kNotFound);
  // The counter goes on from where it was, never reusing a revision.
  EXPECT_EQ(Must(store().Put("ro/c", "3")).revision, del + 1);
}

TEST_P(StateContractTest, ConcurrentCompareAndSwapLosesNoIncrement) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        int64_t value = 0;
        Revision mod = 0;
        auto kv = store().Get("cas/counter");
        if (kv.ok()) {
          value = std::stoll(kv->value);
          mod = kv->mod_revision;
        } else if (kv.error().code != Errc::kNotFound) {
          ++failures;
          return;
        }
        auto r = store().Txn({{"cas/counter", mod}},
                             {Op::Put("cas/counter", std::to_string(value + 1))});
        if (!r.ok()) {
          ++failures;
          return;
        }
        if (r->succeeded) ++done;  // else someone else won: read again
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto kv = Must(store().Get("cas/counter"));
  EXPECT_EQ(kv.value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(kv.version, kThreads * kIncrements);
}

}  // namespace
}  // namespace alto::state::testing
