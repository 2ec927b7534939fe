// `crmsync teardown [--yes]`: what a finished (or abandoned) migration leaves behind on the
// source — a replication slot that holds WAL for ever, a publication — and the pipeline's state.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "cdc/replication.hpp"
#include "checkpoint/store.hpp"
#include "daemon/cutover.hpp"
#include "daemon/sessions.hpp"
#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {

namespace {

constexpr const char* kProgressTables[] = {"copy_progress", "apply_progress", "holds", "stop_requests"};

void say(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

ExitCode fail(const std::string& text) {
  std::fprintf(stderr, "crmsync teardown: %s\n", text.c_str());
  return ExitCode::Failure;
}

}  // namespace

ExitCode teardown_command(const config::PipelineConfig& cfg, bool yes) {
  auto target = pq::Connection::connect(bare_target_options(cfg, "crmsync teardown"));
  if (!target) return fail(target.error().message);
  auto encoding = read_target_encoding(*target);
  if (!encoding) return fail(encoding.error().message);
  const Sessions sessions(cfg, *encoding);
  auto source = pq::Connection::connect(sessions.source("crmsync teardown"));
  if (!source) return fail(source.error().message);
  // After a cutover the default fence leaves the source database read-only for new sessions.
  if (auto rw = source->exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"); !rw) {
    return fail(rw.error().message);
  }

  auto slot = cdc::find_slot(*source, cfg.source.slot);
  if (!slot) return fail(slot.error().message);
  if (*slot && (*slot)->active) {
    return fail(
        fmt::format("replication slot {} is in use: the daemon is running; stop it first (systemctl stop, "
                    "or SIGTERM)",
                    cfg.source.slot));
  }
  auto publication =
      source->exec_params("SELECT count(*) FROM pg_publication WHERE pubname = $1", {cfg.source.publication});
  if (!publication) return fail(publication.error().message);
  const bool has_publication = publication->get(0, 0) != "0";
  const bool has_state = std::filesystem::exists(cfg.state_dir);

  std::vector<std::string> plan;
  if (*slot) plan.push_back(fmt::format("the replication slot {} on the source", cfg.source.slot));
  if (has_publication) plan.push_back(fmt::format("the publication {} on the source", cfg.source.publication));
  std::vector<std::string> emptied;
  for (const auto* table : kProgressTables) {
    auto n = target->exec_params(
        fmt::format("SELECT CASE WHEN to_regclass('{0}.{1}') IS NULL THEN 0 ELSE (SELECT count(*) FROM {0}.{1} WHERE "
                    "pipeline = $1) END",
                    sink::postgres::kStateSchema, table),
        {cfg.name});
    if (!n) return fail(n.error().message);
    if (n->get(0, 0) != "0") {
      emptied.push_back(table);
      plan.push_back(fmt::format("{} row(s) of pipeline {} in {}.{} on the target", n->get(0, 0), cfg.name,
                                 sink::postgres::kStateSchema, table));
    }
  }
  if (has_state) plan.push_back(fmt::format("the state directory {}", cfg.state_dir));
  auto letters = target->exec_params(
      fmt::format("SELECT CASE WHEN to_regclass('{0}.dead_letters') IS NULL THEN 0 ELSE (SELECT count(*) FROM "
                  "{0}.dead_letters WHERE pipeline = $1) END",
                  sink::postgres::kStateSchema),
      {cfg.name});
  if (!letters) return fail(letters.error().message);

  std::string kept;
  if (letters->get(0, 0) != "0") {
    kept = fmt::format(
        "kept: {} dead letter(s) in {}.dead_letters (rows the new CRM never got; crmsync dlq drop all "
        "deletes them)\n",
        letters->get(0, 0), sink::postgres::kStateSchema);
  }
  if (plan.empty()) {
    say(fmt::format("crmsync teardown: nothing of pipeline {} is left to drop\n{}", cfg.name, kept));
    return ExitCode::Ok;
  }
  if (!yes) {
    say(
        fmt::format("crmsync teardown would drop:\n  - {}\n{}run again with --yes to drop them; the target's tables "
                    "and data are not touched\n",
                    fmt::join(plan, "\n  - "), kept));
    return ExitCode::Usage;
  }
  if (has_state) {
    // Refuses while a daemon holds the state directory (on this host, whatever the slot says).
    auto store = checkpoint::Store::open(cfg.state_dir);
    if (!store) return fail(store.error().message);
  }
  if (*slot) {
    if (auto ok = cdc::drop_slot(*source, cfg.source.slot); !ok) return fail(ok.error().message);
  }
  if (has_publication) {
    if (auto ok = cdc::drop_publication(*source, cfg.source.publication); !ok) {
      return fail(ok.error().message);
    }
  }
  for (const auto& table : emptied) {
    auto ok = target->exec_params(
        fmt::format("DELETE FROM {}.{} WHERE pipeline = $1", sink::postgres::kStateSchema, table), {cfg.name});
    if (!ok) return fail(ok.error().message);
  }
  if (has_state) {
    std::error_code ec;
    std::filesystem::remove_all(cfg.state_dir, ec);
    if (ec) return fail(fmt::format("removing {}: {}", cfg.state_dir, ec.message()));
  }
  say(fmt::format("crmsync teardown dropped:\n  - {}\n{}", fmt::join(plan, "\n  - "), kept));
  return ExitCode::Ok;
}

}  // namespace crmsync::daemon
