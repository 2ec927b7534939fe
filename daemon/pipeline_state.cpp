#include "daemon/pipeline_state.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cdc/publication_check.hpp"
#include "cdc/replication.hpp"
#include "cdc/row_filter.hpp"
#include "daemon/row_filter_record.hpp"
#include "daemon/sessions.hpp"
#include "daemon/source_tables.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {
namespace {

CheckItem item(std::string name, CheckStatus status, std::string detail) {
  return CheckItem{"state", std::move(name), status, std::move(detail)};
}

// What the target's progress row says it holds (it commits with the data), if anything.
Result<std::optional<Lsn>> target_applied(const config::PipelineConfig& cfg) {
  auto target = pq::Connection::connect(bare_target_options(cfg, "crmsync check"));
  if (!target) return target.take_error();
  auto res = target->exec_params(
      fmt::format("SELECT lsn::text FROM {}.apply_progress WHERE pipeline = $1", sink::postgres::kStateSchema),
      {cfg.name});
  if (!res) {
    // No state schema yet (or no right to read it): nothing was applied through it.
    return std::optional<Lsn>{};
  }
  if (res->rows() == 0) return std::optional<Lsn>{};
  auto lsn = Lsn::parse(res->get(0, 0));
  if (!lsn) return lsn.take_error();
  return std::optional<Lsn>{*lsn};
}

// The publication on a pipeline that has not begun: a first run adds missing tables itself, so
// only what it would refuse is reported.
void check_new_publication(const config::PipelineConfig& cfg, pq::Connection& source, CheckReport& out) {
  auto problems = cdc::publication_problems(source, cfg.source.publication, cfg.source.tables, cfg.row_filters());
  if (!problems) {
    out.push_back(item("publication settings", CheckStatus::Fail, problems.error().message));
    return;
  }
  std::vector<std::string> refused;
  for (const auto& p : *problems) {
    if (p.kind == cdc::PublicationProblem::Kind::Other) refused.push_back(p.text);
  }
  if (!refused.empty()) {
    out.push_back(item("publication settings", CheckStatus::Fail, fmt::format("{}", fmt::join(refused, "; "))));
  }
}

// `slot` was read before the store was opened and before the target is read: a running daemon
// confirms a position to the slot only once the target holds it, so that order never reports a
// gap that is not there.
void check_started(const config::PipelineConfig& cfg, const checkpoint::Store& store, pq::Connection& source,
                   const Result<std::optional<cdc::SlotInfo>>& slot, CheckReport& out) {
  auto identity = store.source_identity();
  if (!identity) {
    out.push_back(item("slot", CheckStatus::Fail, identity.error().message));
    return;
  }
  if (identity->has_value() && !(*identity)->consistent_lsn.is_invalid()) {
    const auto& recorded = **identity;
    if (auto refusal = names_refusal(cfg, recorded)) {
      out.push_back(item("slot", CheckStatus::Fail, std::move(*refusal)));
    } else if (!slot) {
      out.push_back(item("slot", CheckStatus::Fail, slot.error().message));
    } else if (!*slot) {
      out.push_back(item("slot", CheckStatus::Fail,
                         fmt::format("the checkpoint says replication slot \"{}\" was created at {}, but the source "
                                     "has no such slot: the changes since then cannot be streamed. {}",
                                     cfg.source.slot, recorded.consistent_lsn, start_over_advice(cfg))));
    } else {
      Lsn start = recorded.consistent_lsn;
      auto confirmed = store.confirmed_lsn();
      if (confirmed && *confirmed) start = std::max(start, **confirmed);
      auto applied = target_applied(cfg);
      if (applied && *applied) start = std::max(start, **applied);
      const auto& flushed = (*slot)->confirmed_flush;
      if (flushed && *flushed > start) {
        out.push_back(item("slot", CheckStatus::Fail, slot_consumed_refusal(cfg, *flushed, start)));
      } else {
        out.push_back(item("slot", CheckStatus::Ok,
                           fmt::format("\"{}\" exists; the target holds the source up to {}", cfg.source.slot, start)));
      }
    }
  }
  auto tables = SourceTables::load(store);
  if (!tables) {
    out.push_back(item("source tables", CheckStatus::Fail, tables.error().message));
  } else if (auto followed = follow_config(cfg, source, *tables); !followed) {
    out.push_back(item("source tables", CheckStatus::Fail, followed.error().message));
  } else {
    out.push_back(item("source tables", CheckStatus::Ok, "each is the relation the copy began with"));
  }
  auto problems = cdc::publication_problems(source, cfg.source.publication, cfg.source.tables, cfg.row_filters());
  if (!problems) {
    out.push_back(item("publication settings", CheckStatus::Fail, problems.error().message));
    return;
  }
  std::vector<std::string> texts;
  for (const auto& p : *problems) texts.push_back(p.text);
  auto recorded = RowFilterRecord::load(store);
  auto published = cdc::published_row_filters(source, cfg.source.publication);
  if (!recorded) {
    texts.push_back(recorded.error().message);
  } else if (!published) {
    texts.push_back(published.error().message);
  } else if (auto refusal = row_filter_refusal(*recorded, cfg, *published)) {
    texts.push_back(std::move(*refusal));
  }
  out.push_back(
      texts.empty()
          ? item("publication settings", CheckStatus::Ok,
                 fmt::format("\"{}\" publishes every change of source.tables and nothing else", cfg.source.publication))
          : item("publication settings", CheckStatus::Fail, fmt::format("{}", fmt::join(texts, "; "))));
}

}  // namespace

// Every refusal that needs a fresh start gives the whole recipe, in the order that works, so that
// following it once leads to a running pipeline (never to the next refusal, nor to emptied tables
// and then a refusal). It copies everything again; nothing on the source is lost.
std::string start_over_advice(const config::PipelineConfig& cfg) {
  const auto name = pq::quote_literal(cfg.name);
  return fmt::format(
      "To start over with a full copy: (1) on the source, if the slot exists: SELECT pg_drop_replication_slot({0}); "
      "(2) on the target: DELETE FROM {2}.copy_progress WHERE pipeline = {1}; DELETE FROM {2}.apply_progress WHERE "
      "pipeline = {1}; (3) empty the target tables, or set snapshot.truncate_target: true to have crmsync do it; "
      "(4) remove {3} if it exists; then run again",
      pq::quote_literal(cfg.source.slot), name, sink::postgres::kStateSchema, cfg.state_dir);
}

std::optional<std::string> names_refusal(const config::PipelineConfig& cfg,
                                         const checkpoint::SourceIdentity& recorded) {
  if (recorded.slot == cfg.source.slot && recorded.publication == cfg.source.publication) return std::nullopt;
  auto as_recorded = cfg;  // starting over drops the slot the checkpoint streams from
  as_recorded.source.slot = recorded.slot;
  return fmt::format(
      "the checkpoint in {} streams from slot \"{}\" with publication \"{}\", but the config names slot \"{}\" and "
      "publication \"{}\": switching either in the middle of a migration would skip or replay changes. Set "
      "source.slot and source.publication back, or start over: {}",
      cfg.state_dir, recorded.slot, recorded.publication, cfg.source.slot, cfg.source.publication,
      start_over_advice(as_recorded));
}

std::string slot_consumed_refusal(const config::PipelineConfig& cfg, Lsn confirmed_flush, Lsn start) {
  return fmt::format(
      "replication slot \"{}\" has confirmed_flush_lsn {}, past what the target and the checkpoint hold ({}): the "
      "changes in between were consumed outside this pipeline and are lost to it. crmsync will not stream on over "
      "the gap. {}",
      cfg.source.slot, confirmed_flush, start, start_over_advice(cfg));
}

std::string slot_lost_message(const config::PipelineConfig& cfg) {
  return fmt::format(
      "replication slot \"{}\" is lost (wal_status lost): the source removed WAL the stream had not yet applied, "
      "because the slot retained more than max_slot_wal_keep_size. Those changes cannot be read any more, so the "
      "target cannot be brought up to date from this slot, and crmsync will not restart from scratch on its own. To "
      "recover, raise max_slot_wal_keep_size on the source (crmsync check recommends a value) and copy again: {}",
      cfg.source.slot, start_over_advice(cfg));
}

CheckReport check_pipeline_state(const config::PipelineConfig& cfg) {
  CheckReport out;
  pq::ConnectOptions options;
  options.dsn = cfg.source.dsn;
  options.connect_timeout_s = cfg.source.connect_timeout_s;
  options.application_name = "crmsync check";
  auto source = pq::Connection::connect(options);
  auto slot = source ? cdc::find_slot(*source, cfg.source.slot) : Result<std::optional<cdc::SlotInfo>>(source.error());
  auto store = checkpoint::Store::open_read_only(cfg.state_dir);
  if (!store) {
    out.push_back(item("checkpoint", CheckStatus::Fail, store.error().message));
    return out;
  }
  auto phase = *store ? (*store)->phase() : Result<checkpoint::Phase>(checkpoint::Phase::New);
  if (!phase) {
    out.push_back(item("checkpoint", CheckStatus::Fail, phase.error().message));
    return out;
  }
  out.push_back(item("checkpoint", CheckStatus::Ok,
                     *phase == checkpoint::Phase::New
                         ? fmt::format("nothing recorded in {} yet: run starts with the copy", cfg.state_dir)
                         : fmt::format("{}: phase {}", cfg.state_dir, checkpoint::to_string(*phase))));
  if (!source) return out;  // the source's own "connect" item has failed already
  if (*phase == checkpoint::Phase::New) {
    auto identity =
        *store ? (*store)->source_identity() : Result<std::optional<checkpoint::SourceIdentity>>(std::nullopt);
    if (slot && *slot && identity && !*identity) {
      out.push_back(item("slot", CheckStatus::Fail,
                         fmt::format("replication slot \"{}\" already exists on the source, but the checkpoint in {} "
                                     "has no record of it: another pipeline may own it, or the state directory was "
                                     "lost. If no other crmsync uses it: {}",
                                     cfg.source.slot, cfg.state_dir, start_over_advice(cfg))));
    }
    check_new_publication(cfg, *source, out);
  } else {
    check_started(cfg, **store, *source, slot, out);
  }
  return out;
}

}  // namespace crmsync::daemon
