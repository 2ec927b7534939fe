// The Applier against a real target (sink/postgres/applier.hpp): a batch is the pipeline's
// implicit transaction, made explicit by a BEGIN only when a sync comes before the commit; either
// way it commits whole or not at all. The progress row is a fence: a batch whose progress update
// does not start from the position this Applier knows is rolled back on the server.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "sink/postgres/applier.hpp"
#include "support/cluster.hpp"

using namespace crmsync;
using namespace crmsync::testing;
using sink::postgres::Applier;
using sink::postgres::OldKind;
using sink::postgres::Route;

namespace {

Route items_route() {
  Route r;
  r.id = 1;
  r.schema = "public";
  r.table = "items";
  r.columns = {"id", "v"};
  r.key = {0};
  r.compare_as_text = {false, false};
  return r;
}

Row item(int id, const std::string& v) {
  return Row{Value::of(std::to_string(id)), Value::of(v)};
}

std::unique_ptr<Applier> connect(const PgCluster& pg, const std::string& pipeline = "t") {
  auto a = Applier::connect({.dsn = pg.dsn()}, pipeline);
  REQUIRE_MESSAGE(static_cast<bool>(a), (a ? "" : a.error().message));
  auto lsn = (*a)->applied_lsn();
  REQUIRE_MESSAGE(static_cast<bool>(lsn), (lsn ? "" : lsn.error().message));
  return std::move(a).value();
}

std::string count(const PgCluster& pg) {
  return pg.query_value("SELECT count(*) FROM public.items");
}

}  // namespace

TEST_CASE("applier: a batch commits whole or not at all, across mid-batch syncs and catalog reads") {
  PgCluster pg("applier-atomic");
  pg.exec("CREATE TABLE public.items (id int PRIMARY KEY, v text)");
  const auto route = items_route();
  auto applier = connect(pg);

  SUBCASE("implicit transaction: nothing is visible before commit, everything after") {
    REQUIRE(applier->begin());
    for (int i = 0; i < 10; ++i) REQUIRE(applier->insert(route, item(i, "a")));
    CHECK(count(pg) == "0");
    REQUIRE(applier->commit(*Lsn::parse("0/100")));
    CHECK(count(pg) == "10");
    CHECK(pg.query_value("SELECT lsn::text FROM crmsync.apply_progress WHERE pipeline = 't'") == "0/100");
  }
  SUBCASE("more statements than one sync window, then a rollback: nothing committed") {
    REQUIRE(applier->begin());
    for (int i = 0; i < 1500; ++i) REQUIRE(applier->insert(route, item(i, "a")));
    CHECK(count(pg) == "0");  // the syncs every 512 statements did not commit
    applier->rollback();
    CHECK(count(pg) == "0");
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(1, "b")));
    REQUIRE(applier->commit(*Lsn::parse("0/200")));
    CHECK(count(pg) == "1");
  }
  SUBCASE("a catalog read inside the batch does not commit what came before it") {
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(1, "a")));
    auto conn = applier->synchronous();
    REQUIRE(static_cast<bool>(conn));
    auto inside = (*conn)->exec("SELECT count(*) FROM public.items");
    REQUIRE(static_cast<bool>(inside));
    CHECK(inside->get(0, 0) == "1");  // same transaction: sees its own row
    CHECK(count(pg) == "0");          // nobody else does
    // (The ALTER's lock keeps other sessions off the table until the rollback.)
    REQUIRE(applier->execute("ALTER TABLE public.items ADD COLUMN w int"));
    applier->rollback();
    CHECK(count(pg) == "0");
    CHECK(pg.query_value("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' "
                         "AND column_name = 'w'") == "0");
  }
  SUBCASE("an error in the middle rolls the whole batch back, and the next batch works") {
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(1, "a")));
    REQUIRE(applier->insert(route, item(1, "duplicate")));
    REQUIRE(applier->insert(route, item(2, "a")));
    auto committed = applier->commit(*Lsn::parse("0/300"));
    REQUIRE_FALSE(committed);
    CHECK(committed.error().message.find("23505") != std::string::npos);
    CHECK_FALSE(committed.error().retryable());
    CHECK(count(pg) == "0");
    CHECK(pg.query_value("SELECT count(*) FROM crmsync.apply_progress") == "0");
    REQUIRE(applier->begin());
    REQUIRE(applier->update(route, OldKind::None, Row{}, item(7, "x")));  // no such row: counted
    REQUIRE(applier->insert(route, item(3, "c")));
    auto second = applier->commit(*Lsn::parse("0/400"));
    REQUIRE_MESSAGE(static_cast<bool>(second), (second ? "" : second.error().message));
    CHECK(count(pg) == "1");
    CHECK(applier->counters().rows_not_found == 1);
  }
  SUBCASE("a failed statement no sync has reached yet, in an explicit block, then a rollback: the next batch works") {
    REQUIRE(applier->begin());
    // The sync after 512 statements made the batch an explicit transaction block; the duplicate
    // is queued behind it, unsynced, when the batch is abandoned (as on a lost source connection):
    // the server skips the ROLLBACK queued after it, and a sync does not end an explicit block.
    for (int i = 0; i < 600; ++i) REQUIRE(applier->insert(route, item(i, "a")));
    REQUIRE(applier->insert(route, item(1, "duplicate")));
    applier->rollback();
    CHECK(count(pg) == "0");
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(1, "b")));
    auto second = applier->commit(*Lsn::parse("0/600"));
    REQUIRE_MESSAGE(static_cast<bool>(second), (second ? "" : second.error().message));
    CHECK(count(pg) == "1");
  }

}

TEST_CASE("applier: the progress row fences out a second daemon and a hand-edited position") {
  PgCluster pg("applier-fence");
  pg.exec("CREATE TABLE public.items (id int PRIMARY KEY, v text)");
  const auto route = items_route();

  SUBCASE("two appliers that read the same position: the second commit is refused and rolled back") {
    auto first = connect(pg);
    auto second = connect(pg);
    REQUIRE(first->begin());
    REQUIRE(first->insert(route, item(1, "first")));
    REQUIRE(first->commit(*Lsn::parse("0/100")));
    REQUIRE(second->begin());
    REQUIRE(second->insert(route, item(2, "second")));
    auto refused = second->commit(*Lsn::parse("0/100"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::StateMismatch);
    CHECK(refused.error().message.find("another crmsync") != std::string::npos);
    CHECK(refused.error().message.find("then start crmsync again") != std::string::npos);
    CHECK(pg.query_value("SELECT string_agg(v, ',' ORDER BY id) FROM public.items") == "first");

    // Once the first has a row, a second that read "no row" cannot insert over it either.
    REQUIRE(first->begin());
    REQUIRE(first->insert(route, item(3, "first")));
    REQUIRE(first->commit(*Lsn::parse("0/200")));
    auto third = connect(pg);  // reads 0/200
    REQUIRE(third->begin());
    REQUIRE(third->insert(route, item(4, "third")));
    REQUIRE(third->commit(*Lsn::parse("0/300")));
    REQUIRE(first->begin());
    REQUIRE(first->insert(route, item(5, "first")));
    REQUIRE_FALSE(first->commit(*Lsn::parse("0/400")));  // the row says 0/300 now
    CHECK(pg.query_value("SELECT string_agg(v, ',' ORDER BY id) FROM public.items") == "first,first,third");
    CHECK(pg.query_value("SELECT lsn::text FROM crmsync.apply_progress") == "0/300");
  }
  SUBCASE("a first commit over a row written meanwhile is refused") {
    auto late = connect(pg);  // no row yet
    auto early = connect(pg);
    REQUIRE(early->begin());
    REQUIRE(early->insert(route, item(1, "early")));
    REQUIRE(early->commit(*Lsn::parse("0/100")));
    REQUIRE(late->begin());
    REQUIRE(late->insert(route, item(2, "late")));
    auto refused = late->commit(*Lsn::parse("0/100"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::StateMismatch);
    CHECK(count(pg) == "1");
  }
  SUBCASE("a deleted progress row stops the apply with nothing committed") {
    auto applier = connect(pg);
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(1, "a")));
    REQUIRE(applier->commit(*Lsn::parse("0/100")));
    pg.exec("DELETE FROM crmsync.apply_progress");
    REQUIRE(applier->begin());
    REQUIRE(applier->insert(route, item(2, "b")));
    auto refused = applier->commit(*Lsn::parse("0/200"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("0/100") != std::string::npos);
    CHECK(count(pg) == "1");
  }
}
