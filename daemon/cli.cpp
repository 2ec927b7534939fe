#include "daemon/cli.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "config/loader.hpp"
#include "daemon/check_command.hpp"
#include "daemon/cutover.hpp"
#include "daemon/dlq_command.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/logging.hpp"
#include "daemon/run_command.hpp"
#include "daemon/status_command.hpp"
#include "daemon/verify.hpp"
#include "daemon/version.hpp"

namespace crmsync::daemon {
namespace {

struct Options {
  std::string config_path;
  bool json = false;
  bool stop_after_copy = false;
  std::string dlq_id;
  std::string dlq_table;
  std::int64_t sample = 0;
  VerifyOptions verify{};
  CutoverOptions cutover{};
  StatusOptions status{};
  bool yes = false;
};

ExitCode dispatch(const std::string& command, const std::string& sub, const Options& opts,
                  const config::PipelineConfig& cfg) {
  if (command == "check") return check_command(cfg, opts.json, opts.sample);
  if (command == "run")
    return run_command(cfg, RunOptions{.stop_after_copy = opts.stop_after_copy, .config_path = opts.config_path});
  if (command == "status") return status_command(cfg, opts.status);
  if (command == "verify") return verify_command(cfg, opts.verify, opts.json);
  if (command == "cutover") return cutover_command(cfg, opts.cutover);
  if (command == "teardown") return teardown_command(cfg, opts.yes);
  if (command == "dlq" && sub == "list") return dlq_list_command(cfg, opts.dlq_table, opts.json);
  if (command == "dlq" && (sub == "drop" || sub == "retry") && opts.dlq_id.empty()) {
    std::fprintf(stderr, "crmsync dlq %s: say which letters: an id, --id ID, or --all\n", sub.c_str());
    return ExitCode::Usage;
  }
  if (command == "dlq" && sub == "drop") return dlq_drop_command(cfg, opts.dlq_id);
  if (command == "dlq" && sub == "retry") return dlq_retry_command(cfg, opts.dlq_id);
  return ExitCode::Usage;
}

void add_config_option(CLI::App* cmd, Options& opts) {
  cmd->add_option("-c,--config", opts.config_path, "pipeline configuration file (YAML)")->required();
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"crmsync: copy a legacy CRM's PostgreSQL database into a new CRM and keep the two in sync"};
  app.set_version_flag("--version", std::string("crmsync ") + kVersion);
  app.require_subcommand(1);
  Options opts;

  auto* run = app.add_subcommand("run", "copy if not yet done, then stream changes until stopped (SIGTERM)");
  add_config_option(run, opts);
  run->add_flag("--stop-after-copy", opts.stop_after_copy, "exit 0 once the initial copy is done");
  auto* check = app.add_subcommand("check", "validate the config and preflight source, mapping and target");
  add_config_option(check, opts);
  check->add_flag("--json", opts.json, "print the report as JSON");
  check
      ->add_option("--sample", opts.sample,
                   "dry run: map up to N rows of each mapped table and report what the mapping would refuse")
      ->check(CLI::PositiveNumber);
  auto* status = app.add_subcommand("status", "phase, copy progress, applied LSN, lag, dead-letter count");
  add_config_option(status, opts);
  status->add_flag("--json", opts.status.json, "print what /status serves (one line per refresh with --watch)");
  status->add_flag("--watch", opts.status.watch, "refresh until interrupted");
  status->add_option("--interval", opts.status.interval_s, "seconds between refreshes with --watch (default 2)")
      ->check(CLI::Range(0.1, 3600.0));
  auto* verify = app.add_subcommand(
      "verify", "compare what the target holds with what the mapping makes of the source; exit 3 when they differ");
  add_config_option(verify, opts);
  verify->add_flag("--json", opts.json, "print as JSON");
  verify->add_option("--table", opts.verify.tables,
                     "only this table (source or target name, schema.table); repeatable");
  verify->add_option("--max-keys", opts.verify.max_keys, "list at most N differing keys per table (default 10)");
  auto* cutover = app.add_subcommand("cutover", "verify, fence the source, drain to a marker, sync sequences, stop");
  add_config_option(cutover, opts);
  cutover->add_flag("--dry-run", opts.cutover.dry_run, "everything but the fence and the stop");
  cutover->add_option("--max-lag", opts.cutover.max_lag_s, "seconds the stream may lag at the start (default 1)")
      ->check(CLI::PositiveNumber);
  cutover->add_flag("--allow-dlq", opts.cutover.allow_dlq, "cut over with dead letters in the DLQ");
  cutover->add_flag("--verify-after-fence", opts.cutover.verify_after_fence,
                    "verify again once the source is fenced (lengthens the write outage)");
  auto* dlq = app.add_subcommand("dlq", "inspect and act on the dead-letter queue");
  dlq->require_subcommand(1);
  for (const char* name : {"list", "retry", "drop"}) {
    auto* sub = dlq->add_subcommand(name, std::string(name) + " dead-lettered rows");
    add_config_option(sub, opts);
    if (std::string(name) != "list") {
      // `retry 12`, `retry all`, or the spelled-out `retry --id 12` / `retry --all`: exactly one.
      auto* positional = sub->add_option("id", opts.dlq_id, "entry id, or 'all'");
      auto* by_id = sub->add_option("--id", opts.dlq_id, "entry id");
      auto* all = sub->add_flag_callback(
          "--all", [&opts] { opts.dlq_id = "all"; }, "every letter");
      positional->excludes(by_id)->excludes(all);
      by_id->excludes(all);
    } else {
      sub->add_option("--table", opts.dlq_table, "only this source table (schema.table)");
      sub->add_flag("--json", opts.json, "JSON: one object per letter, with the source row");
    }
  }
  auto* teardown = app.add_subcommand("teardown", "drop the slot and publication, remove local state");
  add_config_option(teardown, opts);
  teardown->add_flag("--yes", opts.yes, "really drop (without it: say what would be dropped)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the error
    return code == 0 ? to_int(ExitCode::Ok) : to_int(ExitCode::Usage);
  }

  const auto* chosen = app.get_subcommands().front();
  const std::string command = chosen->get_name();
  const std::string sub = chosen->get_subcommands().empty() ? "" : chosen->get_subcommands().front()->get_name();

  auto loaded = config::load_config_file(opts.config_path);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) {
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
    return to_int(ExitCode::Config);
  }
  setup_logging(loaded.config->log, loaded.config->name);
  try {
    return to_int(dispatch(command, sub, opts, *loaded.config));
  } catch (const std::exception& e) {
    spdlog::critical("crmsync {}: internal error: {}", command, e.what());
    return to_int(ExitCode::Failure);
  }
}

}  // namespace crmsync::daemon
