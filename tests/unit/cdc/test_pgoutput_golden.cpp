// Golden pgoutput messages captured from a real PostgreSQL 15 by scripts/capture-pgoutput-fixtures
// (see tests/fixtures/pgoutput/README.md for the workload and what each file is). OIDs, xids,
// LSNs and timestamps differ between captures, so they are checked against each other.

#include <doctest/doctest.h>

#include <cctype>
#include <optional>

#include "tests/unit/cdc/pgoutput_support.hpp"

namespace pgo = crmsync::cdc::pgoutput;
using crmsync::Lsn;
using crmsync::Oid;
using crmsync::RelationColumn;
using crmsync::RelReplIdent;
using crmsync::Row;
using crmsync::Value;
using pgo::test::decode_as;

namespace {

constexpr std::uint32_t kInt8 = 20, kInt4 = 23, kText = 25, kTimestamp = 1114, kTimestamptz = 1184, kVarchar = 1043,
                        kNumeric = 1700;

// Fixture number n (1-based, as in its file name).
const std::string& fx(int n) {
  static const auto all = pgo::test::load_fixtures();
  REQUIRE(n >= 1);
  REQUIRE(static_cast<std::size_t>(n) <= all.size());
  const auto& f = all[static_cast<std::size_t>(n - 1)];
  REQUIRE(f.name.substr(0, 4) == fmt::format("{:03d}_", n));
  return f.bytes;
}

Value t(const char* s) {
  return Value::of(s);
}
const Value kNull = Value::null();

RelationColumn col(const char* name, std::uint32_t type, bool key, std::int32_t typmod = -1) {
  return RelationColumn{name, Oid{type}, typmod, key};
}

}  // namespace

TEST_CASE("pgoutput golden: every fixture decodes to the type its file name says") {
  const auto all = pgo::test::load_fixtures();
  REQUIRE(all.size() == 49);
  for (const auto& f : all) {
    CAPTURE(f.name);
    auto m = pgo::decode(f.bytes);
    REQUIRE_MESSAGE(m.ok(), m.error().message);
    std::string name(pgo::message_name(*m));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(f.name.substr(4, f.name.size() - 8) == name);
  }
}

TEST_CASE("pgoutput golden: Begin/Commit pairs agree, LSNs and xids are non-zero and ordered") {
  const auto all = pgo::test::load_fixtures();
  std::optional<pgo::Begin> open;
  Lsn last_commit{0};
  std::uint32_t last_xid = 0;
  int transactions = 0;
  for (const auto& f : all) {
    CAPTURE(f.name);
    auto m = pgo::decode(f.bytes);
    REQUIRE(m.ok());
    if (const auto* b = std::get_if<pgo::Begin>(&*m)) {
      REQUIRE_FALSE(open.has_value());
      CHECK(b->final_lsn > last_commit);
      CHECK(b->xid.value() > last_xid);
      last_xid = b->xid.value();
      // Not before 2024-01-01 (757382400 s after the PostgreSQL epoch; the origin transaction's
      // time is exactly that), and not absurdly late.
      CHECK(b->commit_time_us >= 757382400LL * 1000000);
      CHECK(b->commit_time_us < 2000000000LL * 1000000);
      open = *b;
    } else if (const auto* c = std::get_if<pgo::Commit>(&*m)) {
      REQUIRE(open.has_value());
      CHECK(c->flags == 0);
      CHECK(c->commit_lsn == open->final_lsn);
      CHECK(c->end_lsn > c->commit_lsn);
      CHECK(c->commit_time_us == open->commit_time_us);
      last_commit = c->commit_lsn;
      open.reset();
      ++transactions;
    } else if (const auto* lm = std::get_if<pgo::LogicalMessage>(&*m)) {
      CHECK(lm->transactional == open.has_value());
      CHECK(lm->lsn > last_commit);
      // PostgreSQL reports the end of the message's WAL record: at most the commit record's start.
      if (open) CHECK(lm->lsn <= open->final_lsn);
    } else {
      CHECK(open.has_value());  // every change is inside a transaction
    }
  }
  CHECK_FALSE(open.has_value());
  CHECK(transactions == 12);
}

TEST_CASE("pgoutput golden: accounts (Type, Relation, Inserts, Updates, Delete, Origin)") {
  const auto type = decode_as<pgo::TypeMessage>(fx(2));
  CHECK(type.oid.value() >= 16384);
  CHECK(type.schema == "public");
  CHECK(type.name == "mood");

  const auto rel = decode_as<pgo::RelationMessage>(fx(3)).relation;
  CHECK(rel.oid.value() >= 16384);
  CHECK(rel.schema == "public");
  CHECK(rel.name == "accounts");
  CHECK(rel.replica_identity == RelReplIdent::Default);
  const std::vector<RelationColumn> columns = {col("id", kInt4, true),
                                               col("name", kText, false),
                                               col("email", kVarchar, false, 54),
                                               RelationColumn{"mood", type.oid, -1, false},
                                               col("balance", kNumeric, false, (12 << 16 | 2) + 4),
                                               col("created_at", kTimestamptz, false)};
  CHECK(rel.columns == columns);

  const Row zoe = {t("1"),     t("Zoë Ångström 🚀"), t("zoe@example.com"),
                   t("happy"), t("1234.50"),        t("2024-01-02 03:04:05+00")};
  const auto ins1 = decode_as<pgo::Insert>(fx(4));
  CHECK(ins1.relation == rel.oid);
  CHECK(ins1.new_row == zoe);
  CHECK(ins1.new_row[1].text.size() == 20);  // UTF-8 bytes, as sent

  const auto ins2 = decode_as<pgo::Insert>(fx(5));
  CHECK(ins2.relation == rel.oid);
  CHECK(ins2.new_row == Row{t("2"), t("Null Person"), kNull, kNull, kNull, kNull});

  const auto upd = decode_as<pgo::Update>(fx(8));
  CHECK(upd.relation == rel.oid);
  CHECK(upd.old_kind == pgo::OldKind::None);
  CHECK(upd.old_row.empty());
  Row zoe2 = zoe;
  zoe2[2] = t("zoe@new.example");
  CHECK(upd.new_row == zoe2);

  const auto key_change = decode_as<pgo::Update>(fx(11));
  CHECK(key_change.relation == rel.oid);
  CHECK(key_change.old_kind == pgo::OldKind::Key);
  CHECK(key_change.old_row == Row{t("2"), kNull, kNull, kNull, kNull, kNull});  // non-key columns NULL
  CHECK(key_change.new_row == Row{t("10"), t("Null Person"), kNull, kNull, kNull, kNull});

  const auto del = decode_as<pgo::Delete>(fx(14));
  CHECK(del.relation == rel.oid);
  CHECK(del.old_kind == pgo::OldKind::Key);
  CHECK(del.old_row == Row{t("10"), kNull, kNull, kNull, kNull, kNull});

  // pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-01 00:00:00+00') sets both the Origin
  // message's LSN and the transaction's commit time.
  CHECK(decode_as<pgo::Begin>(fx(46)).commit_time_us == 757382400LL * 1000000);
  const auto origin = decode_as<pgo::Origin>(fx(47));
  CHECK(origin.commit_lsn == Lsn{0xABCDEF});
  CHECK(origin.name == "legacy_origin");
  const auto ins3 = decode_as<pgo::Insert>(fx(48));
  CHECK(ins3.relation == rel.oid);
  CHECK(ins3.new_row == Row{t("3"), t("from origin"), kNull, t("ok"), t("0.00"), kNull});
}

TEST_CASE("pgoutput golden: REPLICA IDENTITY FULL sends the whole old row ('O')") {
  const auto rel = decode_as<pgo::RelationMessage>(fx(17)).relation;
  CHECK(rel.schema == "public");
  CHECK(rel.name == "audit_log");
  CHECK(rel.replica_identity == RelReplIdent::Full);
  CHECK(rel.columns ==
        std::vector<RelationColumn>{col("id", kInt4, true), col("note", kText, true), col("at", kTimestamp, true)});

  const Row created = {t("1"), t("created"), t("2024-05-06 07:08:09")};
  const Row changed = {t("1"), t("changed"), t("2024-05-06 07:08:09")};
  CHECK(decode_as<pgo::Insert>(fx(18)) == pgo::Insert{rel.oid, created});
  CHECK(decode_as<pgo::Update>(fx(21)) == pgo::Update{rel.oid, pgo::OldKind::Full, created, changed});
  CHECK(decode_as<pgo::Delete>(fx(24)) == pgo::Delete{rel.oid, pgo::OldKind::Full, changed});
}

TEST_CASE("pgoutput golden: a TOASTed column left untouched by an UPDATE arrives as 'u'") {
  const auto rel = decode_as<pgo::RelationMessage>(fx(27)).relation;
  CHECK(rel.name == "documents");
  CHECK(rel.columns ==
        std::vector<RelationColumn>{col("id", kInt4, true), col("title", kText, false), col("body", kText, false)});

  const auto ins = decode_as<pgo::Insert>(fx(28));
  CHECK(ins.relation == rel.oid);
  REQUIRE(ins.new_row.size() == 3);
  CHECK(ins.new_row[0] == t("1"));
  CHECK(ins.new_row[1] == t("big"));
  const std::string& body = ins.new_row[2].text;
  CHECK(ins.new_row[2].kind == crmsync::ValueKind::Text);
  CHECK(body.size() == 102400);  // string_agg(md5(i::text), '') over 1..3200
  CHECK(body.substr(0, 64) == "c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862c");
  CHECK(body.substr(body.size() - 32) == "731ae30af8750c2d28720ea3c1f8c2b1");
  CHECK(body.find_first_not_of("0123456789abcdef") == std::string::npos);

  const auto upd = decode_as<pgo::Update>(fx(31));
  CHECK(upd.relation == rel.oid);
  CHECK(upd.old_kind == pgo::OldKind::None);
  CHECK(upd.new_row == Row{t("1"), t("big v2"), Value::unchanged_toast()});
  CHECK(upd.new_row[2].is_unchanged_toast());
}

TEST_CASE("pgoutput golden: TRUNCATE ... RESTART IDENTITY CASCADE") {
  const auto parent = decode_as<pgo::RelationMessage>(fx(34)).relation;
  CHECK(parent.name == "parent");
  CHECK(parent.columns == std::vector<RelationColumn>{col("id", kInt8, true), col("name", kText, false)});
  CHECK(decode_as<pgo::Insert>(fx(35)) == pgo::Insert{parent.oid, {t("1"), t("p1")}});
  const auto child = decode_as<pgo::RelationMessage>(fx(36)).relation;
  CHECK(child.name == "child");
  CHECK(child.columns ==
        std::vector<RelationColumn>{col("id", kInt8, true), col("parent_id", kInt8, false), col("note", kText, false)});
  CHECK(decode_as<pgo::Insert>(fx(37)) == pgo::Insert{child.oid, {t("1"), t("1"), t("c1")}});
  // The TRUNCATE invalidated both relations: PostgreSQL sends them again, unchanged.
  CHECK(decode_as<pgo::RelationMessage>(fx(38)).relation == parent);
  CHECK(decode_as<pgo::RelationMessage>(fx(39)).relation == child);

  const auto tr = decode_as<pgo::Truncate>(fx(40));
  CHECK(tr.cascade);
  CHECK(tr.restart_identity);
  CHECK(tr.relations == std::vector<Oid>{parent.oid, child.oid});
}

TEST_CASE("pgoutput golden: logical decoding messages") {
  const auto txn = decode_as<pgo::LogicalMessage>(fx(43));
  CHECK(txn.transactional);
  CHECK(txn.prefix == "crmsync");
  CHECK(txn.content == "transactional hello");
  const auto non_txn = decode_as<pgo::LogicalMessage>(fx(45));
  CHECK_FALSE(non_txn.transactional);
  CHECK(non_txn.prefix == "crmsync.marker");
  CHECK(non_txn.content == "non-transactional ✓");
  CHECK(non_txn.lsn > txn.lsn);
}

TEST_CASE("pgoutput golden: every strict prefix of every fixture is an error, never a crash") {
  std::size_t prefixes = 0;
  for (const auto& f : pgo::test::load_fixtures()) {
    CAPTURE(f.name);
    const std::string_view whole(f.bytes);
    for (std::size_t len = 0; len < whole.size(); ++len) {
      auto r = pgo::decode(whole.substr(0, len));
      if (r.ok()) {
        FAIL_CHECK("prefix of length " << len << " decoded successfully");
        continue;
      }
      ++prefixes;
      CHECK(r.error().code == crmsync::ErrorCode::ProtocolViolation);
      CHECK(r.error().message.rfind("pgoutput", 0) == 0);
    }
    // One byte too many is an error too.
    auto longer = pgo::decode(f.bytes + '\x00');
    CHECK_FALSE(longer.ok());
  }
  CHECK(prefixes > 100000);
}

TEST_CASE("pgoutput golden: truncation errors name the message, field and offset") {
  CHECK(pgo::test::decode_error(std::string_view(fx(1)).substr(0, 11)) ==
        "pgoutput Begin: truncated at byte 9 reading commit timestamp (need 8 bytes, have 2)");
  CHECK(pgo::test::decode_error(std::string_view(fx(4)).substr(0, 3)) ==
        "pgoutput Insert: truncated at byte 1 reading relation oid (need 4 bytes, have 2)");
  CHECK(pgo::test::decode_error(std::string_view(fx(3)).substr(0, 8)) ==
        "pgoutput Relation: unterminated string at byte 5 reading namespace (no NUL in the remaining 3 bytes)");
  // 028: 'I' oid 'N' ncols=3, then 't' len=1 "1" (bytes 8-13), 't' len=3 "big" (14-21), 't' len=102400 at 22.
  CHECK(pgo::test::decode_error(std::string_view(fx(28)).substr(0, 1000)) ==
        "pgoutput Insert: truncated at byte 27 reading new tuple column 3 value (need 102400 bytes, have 973)");
}
