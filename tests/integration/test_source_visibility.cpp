// A source transaction the stream delivers before the source shows it (daemon/source_visibility.hpp):
// the catalog and unchanged TOASTed values are read for it only once it is visible, and never
// waited for when crmsync's own stream is the synchronous standby that holds it.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

// The walsender sends a transaction once its commit record is flushed; the committing backend
// makes it visible to other sessions only after that, and only once a synchronous standby has
// confirmed it. HeldCommits makes that window as long as a test needs: while it is held, every
// source commit waits for a standby that does not exist.
namespace {

class HeldCommits {
 public:
  /// Holds commits behind `standby_names`; for the default (a standby that does not exist), only
  /// returns once a probe commit is seen held: the setting reaches new sessions before the
  /// checkpointer starts enforcing it.
  explicit HeldCommits(const PgCluster& source, const std::string& standby_names = kAbsentStandby) : source_(source) {
    source_.exec("CREATE TABLE IF NOT EXISTS public.crmsync_test_probe (x int)");
    source_.exec(fmt::format("ALTER SYSTEM SET synchronous_standby_names = '{}'", standby_names));
    source_.exec("SELECT pg_reload_conf()");
    REQUIRE(wait_until([&] { return source_.query_value("SHOW synchronous_standby_names") == standby_names; }, 10s));
    if (standby_names != kAbsentStandby) return;
    // A probe commit until one is held, then cancelled (which ends its wait; it stays committed).
    // It writes a row: a commit that wrote no WAL before it does not wait for a standby.
    REQUIRE(wait_until(
        [&] {
          std::thread probe([&] {
            auto conn = source_.connect();
            (void)conn.exec("INSERT INTO public.crmsync_test_probe VALUES (1)");
          });
          const bool held = wait_until([&] { return held_sessions() == "1"; }, 2s);
          if (held) source_.exec("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
          probe.join();
          return held;
        },
        20s));
  }
  HeldCommits(const HeldCommits&) = delete;
  HeldCommits& operator=(const HeldCommits&) = delete;
  ~HeldCommits() {  // a failed REQUIRE must not leave a commit waiting and its thread running
    try {
      release();
    } catch (const std::exception&) {
    }
    if (thread_.joinable()) thread_.join();
  }
  /// Runs `sql` in a session of its own, in the background.
  void start(const std::string& sql) {
    thread_ = std::thread([this, sql] {
      auto conn = source_.connect();
      committed_ = static_cast<bool>(conn.exec(sql));
      finished_ = true;
    });
  }
  /// start(), then waits until its commit is held.
  void commit(const std::string& sql) {
    start(sql);
    REQUIRE(wait_until(
        [&] {
          return source_.query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") == "1";
        },
        30s));
  }
  [[nodiscard]] bool finished() const { return finished_; }
  /// Lets the commit complete; whether it did.
  bool finish() {
    release();
    if (thread_.joinable()) thread_.join();
    return committed_;
  }

 private:
  static constexpr const char* kAbsentStandby = "crmsync_test_absent_standby";
  [[nodiscard]] std::string held_sessions() const {
    return source_.query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
  }
  void release() {
    if (released_) return;
    source_.exec("ALTER SYSTEM RESET synchronous_standby_names");
    source_.exec("SELECT pg_reload_conf()");
    released_ = true;
  }
  const PgCluster& source_;
  std::thread thread_;
  std::atomic<bool> committed_{false};
  std::atomic<bool> finished_{false};
  bool released_ = false;
};

bool waiting_logged(const BackgroundProcess& run) {
  return run.stderr_so_far().find("is in the stream but not yet visible on the source") != std::string::npos;
}

}  // namespace

// A catalog read in the window saw the schema before the RENAME COLUMN, and crmsync added the new
// name as a second column (seen once in CI, without a standby, in test_long_run.cpp's schema drift case).
TEST_CASE(
    "source visibility: a column renamed in a commit not yet visible on the source (held by a synchronous standby) is "
    "a "
    "rename") {
  PipelineFixture p("syncrep");
  const char* ddl = "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text, email text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.contacts SELECT g, 'n' || g, 'e' || g FROM generate_series(1, 20) g");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  const auto target_has = [&](const std::string& column) {
    return p.target.query_value(
               "SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = '" +
               column + "'") == "1";
  };
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 20 && streaming(p); }, 60s));
    run.signal(SIGTERM);
    CHECK(run.wait().exit_code == 0);
  }
  HeldCommits held(p.source);
  held.commit(
      "ALTER TABLE public.contacts RENAME COLUMN email TO email_address;"
      "UPDATE public.contacts SET email_address = 'x@example.com' WHERE id = 2");
  {
    // The daemon has the transaction and waits until the source shows it, rather than read a
    // catalog without the rename; a stop request meanwhile ends it at once, and cleanly.
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return waiting_logged(run); }, 60s));
    CHECK_FALSE(target_has("email_address"));
    run.signal(SIGTERM);
    REQUIRE(wait_until([&] { return !run.running(); }, 15s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
  }
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return waiting_logged(run); }, 60s));
    CHECK_FALSE(target_has("email_address"));
    CHECK(held.finish());
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("became visible on the source after") != std::string::npos);
    CHECK(r.err.find("RENAME COLUMN \"email\" TO \"email_address\"") != std::string::npos);
  }
  CHECK_FALSE(target_has("email_address"));
  CHECK(target_has("email"));
  CHECK(p.target.query_value("SELECT email FROM public.contacts WHERE id = 2") == "e2");
}

// A mapping that computes a column from a TOASTed one reads the value back from the source when
// an UPDATE leaves it out; set earlier in the same transaction, it is there only once that
// transaction is visible.
TEST_CASE(
    "source visibility: a mapping reads an unchanged TOASTed value back as the transaction left it, once it is "
    "visible") {
  PipelineFixture p("syncrep-toast");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text, notes text)");
  p.target.exec("CREATE TABLE public.people (id bigint PRIMARY KEY, name text, notes text, summary text)");
  // md5 text in 200 pieces: about 6 KB that does not compress below the TOAST threshold.
  const auto big = [](const char* seed) {
    return fmt::format("(SELECT string_agg(md5('{}' || k), '') FROM generate_series(1, 200) k)", seed);
  };
  p.source.exec(fmt::format("INSERT INTO public.contacts VALUES (1, 'copied', {})", big("old")));
  p.write_config({"public.contacts"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n    to: public.people\n"
                 "    add:\n      summary: {concat: [name, notes], separator: \": \", transform: [{truncate: 50}]}\n");
  const auto expected = [&] {
    return p.source.query_value("SELECT left(concat_ws(': ', name, notes), 50) FROM public.contacts WHERE id = 1");
  };
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return streaming(p) && row_count(p.target, "public.people") == 1; }, 60s));
  // A change first, so that the stream has sent the Relation message (whose catalog reads wait
  // too) before the held transaction.
  p.source.exec("UPDATE public.contacts SET name = 'first' WHERE id = 1");
  REQUIRE(wait_until([&] { return p.target.query_value("SELECT summary FROM public.people") == expected(); }, 30s));
  {
    HeldCommits held(p.source);
    // The second UPDATE leaves the notes the first one wrote out of its change.
    held.commit(fmt::format(
        "UPDATE public.contacts SET notes = {} WHERE id = 1; UPDATE public.contacts SET name = 'second' WHERE id = 1",
        big("new")));
    REQUIRE(wait_until([&] { return waiting_logged(run); }, 60s));
    CHECK(p.target.query_value("SELECT name FROM public.people") == "first");
    CHECK(held.finish());
  }
  REQUIRE(wait_until([&] { return p.target.query_value("SELECT name FROM public.people") == "second"; }, 30s));
  CHECK(p.target.query_value("SELECT summary FROM public.people") == expected());
  CHECK(p.target.query_value("SELECT md5(notes) FROM public.people") ==
        p.source.query_value("SELECT md5(notes) FROM public.contacts"));
  CHECK(p.source.query_value("SELECT pg_column_size(notes) > 2000 FROM public.contacts") == "t");
  run.signal(SIGTERM);
  CHECK(run.wait().exit_code == 0);
}

// crmsync's own stream named in synchronous_standby_names: a source commit waits until crmsync
// has applied it, so crmsync must not wait for it to become visible first.
TEST_CASE(
    "source visibility: with crmsync's stream a synchronous standby, the stream does not wait for what waits for it") {
  PipelineFixture p("syncrep-self");
  const char* ddl = "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'copied')");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return streaming(p) && row_count(p.target, "public.contacts") == 1; }, 60s));
  HeldCommits held(p.source, "\"crmsync stream\"");
  REQUIRE(wait_until(
      [&] {
        return p.source.query_value(
                   "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'crmsync stream' AND "
                   "sync_state = 'sync'") == "1";
      },
      30s));
  // The first change of the session: its Relation message reads the source catalog.
  held.start("UPDATE public.contacts SET name = 'changed' WHERE id = 1");
  CHECK(wait_until([&] { return held.finished(); }, 30s));
  CHECK(p.target.query_value("SELECT name FROM public.contacts WHERE id = 1") == "changed");
  CHECK(held.finish());
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("is a synchronous standby of the source") != std::string::npos);
}
