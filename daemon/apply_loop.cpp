#include "daemon/apply_loop.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "daemon/live_settings.hpp"
#include "daemon/log_context.hpp"
#include "daemon/resumed_copy.hpp"
#include "daemon/signals.hpp"
#include "daemon/source_visibility.hpp"

namespace crmsync::daemon {

ApplyLoop::ApplyLoop(const config::PipelineConfig& cfg, checkpoint::Store& store, sink::postgres::Applier& applier,
                     pq::Connection& source, cdc::StreamQueue& queue, const cdc::ReplicationReader& reader,
                     ChunkFilter& filter, SourceTables& tables, DeadLetterQueue& letters,
                     std::atomic<std::uint64_t>& flushed, std::unique_ptr<FlushGate> gate)
    : cfg_(cfg),
      applier_(applier),
      queue_(queue),
      reader_(reader),
      filter_(filter),
      letters_(letters),
      flushed_(flushed),
      reporter_(store, flushed, std::chrono::milliseconds(100), std::move(gate)),
      relations_(cfg, source, tables, store),
      applied_(Lsn{flushed.load()}) {
  for (const auto& m : cfg.mappings) {
    for (const auto& [_, c] : m.columns) {
      if (c.lookup) lookup_tables_.insert(c.lookup->table);
    }
  }
  const char* stages[] = {"to_crmsync", "queued", "applying", "total"};
  for (std::size_t i = 0; i < stage_hist_.size(); ++i) {
    stage_hist_[i] = &board_.metrics().lag_stage.Add({{"stage", stages[i]}}, telemetry::lag_buckets());
  }
  board_.set_applied(applied_);
  board_.set_confirmed(applied_);
}

ApplyOutcome ApplyLoop::classify(const Error& e) {
  last_error_ = e.message;
  if (stopped_midway_) {
    // Asked to stop while a source transaction waited to become visible: what the batch holds is
    // resent from the durable position next time.
    drop_batch();
    (void)reporter_.flush();
    last_error_.clear();
    return ApplyOutcome::Stopped;
  }
  if (source_catalog_lost_) {
    drop_batch();
    return ApplyOutcome::SourceCatalogLost;
  }
  if (e.retryable()) {
    (void)reporter_.flush();
    spdlog::warn("apply interrupted, will resume from {}: {}", applied_, e.message);
    drop_batch();
    return ApplyOutcome::TargetLost;
  }
  (void)reporter_.flush();
  spdlog::error(
      "apply stopped in source transaction {} committing at {} (last durable position {}): {}. Fix the "
      "cause on the target (or the row on the source), then start crmsync again: it resumes from {} and "
      "applies that transaction whole",
      xid_.value(), txn_final_, applied_, e.message, applied_);
  applier_.rollback();
  letters_.rollback();
  return ApplyOutcome::Fatal;
}

ApplyOutcome ApplyLoop::run() {
  // The lines logged after the loop (why it stopped, the next attempt's) are about no transaction.
  struct ClearLogContext {
    ~ClearLogContext() { log_context() = {}; }
  } const clear_log_context;
  while (true) {
    if (stop_requested() && !in_source_txn_) {
      if (batch_open_) {
        if (auto ok = commit_batch(); !ok) return classify(ok.error());
      }
      if (auto ok = reporter_.flush(); !ok) return classify(ok.error());
      return ApplyOutcome::Stopped;
    }
    if (auto fatal = reader_.fatal_error()) {
      drop_batch();
      return ApplyOutcome::Fatal;
    }
    if (auto failed = reporter_.error()) {
      spdlog::error("apply stopped at {}: writing the checkpoint failed: {}", applied_, failed->message);
      drop_batch();
      return ApplyOutcome::Fatal;
    }
    if (hold_ != nullptr && !in_source_txn_ && hold_->stop_at.load() != 0 && !target_at_.is_invalid() &&
        target_at_.value() > hold_->stop_at.load()) {
      // crmsync cutover: everything up to its marker is on the target; stop for good.
      if (auto ok = reporter_.flush(); !ok) return classify(ok.error());
      spdlog::info(
          "stream: stopped for crmsync cutover: the target holds everything up to its marker at {} (applied {})",
          Lsn{hold_->stop_at.load()}, target_at_);
      return ApplyOutcome::CutOver;
    }
    if (hold_ != nullptr && !in_source_txn_) {
      auto waiting = hold_step();
      if (!waiting) return classify(waiting.error());
      if (*waiting) {
        board_.note_progress();  // held for a verify: waiting on purpose is not a hung apply
        continue;
      }
    }
    // Between transactions with a batch open: wait no longer than until the batch is due.
    const bool batch_waiting = batch_open_ && !in_source_txn_;
    std::chrono::microseconds wait = std::chrono::milliseconds(200);
    if (batch_waiting) {
      wait = std::clamp(std::chrono::duration_cast<std::chrono::microseconds>(batch_due_at() - Clock::now()),
                        std::chrono::microseconds(0), wait);
    }
    // A hold or a cutover's stop request arrives from the watcher thread, not through the queue:
    // an idle stream looks for it every 20 ms (a cutover's write outage waits on it).
    if (hold_ != nullptr) wait = std::min(wait, std::chrono::microseconds(std::chrono::milliseconds(20)));
    std::optional<cdc::StreamItem> item;
    if (deferred_) {
      item = std::move(deferred_);
      deferred_.reset();
    } else {
      item = queue_.pop(wait);
    }
    if (item && hold_id_ != 0) {
      auto behind = hold_boundary(*item);
      if (!behind) return classify(behind.error());
      if (*behind) {
        board_.note_progress();  // held for a verify: waiting on purpose is not a hung apply
        continue;
      }
    }
    // Liveness for systemd's watchdog: a loop blocked in a target statement stops ticking.
    if (!item || (++ticks_ & 255U) == 0) {
      board_.note_progress();
      board_.set_confirmed(Lsn{flushed_.load()});
    }
    if (!item) {
      if (batch_waiting) {
        if (auto ok = commit_batch(); !ok) return classify(ok.error());
      } else if (!batch_open_) {
        report(true);  // idle: write the position now rather than at the next interval
      }
      continue;
    }
    if (auto ok = handle(*item); !ok) return classify(ok.error());
    if (batch_open_ && !in_source_txn_ && batch_txns_ > 0 && batch_due()) {
      if (auto ok = commit_batch(); !ok) return classify(ok.error());
    }
  }
}

Result<bool> ApplyLoop::hold_step() {
  const auto id = hold_->request.load();
  if (id != hold_id_) {
    hold_id_ = id;
    hold_reached_ = false;
  }
  if (id == 0) return false;
  const auto nap = [] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); };
  if (hold_reached_) {
    nap();
    return true;
  }
  if (hold_->until.load() == 0) {
    // Pause at this boundary until verify knows its position P, which then lies past everything
    // received so far: applying on up to P is always possible, never too late.
    if (batch_open_) {
      if (auto ok = commit_batch(); !ok) return ok.take_error();
    }
    if (batch_open_) return false;
    if (hold_->paused_for.load() != id) {
      hold_->paused_at = applied_.value();
      hold_->paused_for = id;
    }
    nap();
    return true;
  }
  // Approaching P: the walsender's keepalive says how far it has decoded; ask for one now and then,
  // as a quiet source sends none of its own.
  if (Clock::now() - last_ping_ > std::chrono::milliseconds(50)) {
    reader_.request_keepalive();
    last_ping_ = Clock::now();
  }
  return false;
}

Result<bool> ApplyLoop::hold_boundary(cdc::StreamItem& item) {
  const Lsn until{hold_->until.load()};
  if (hold_reached_ || in_source_txn_ || until.is_invalid() || hold_->request.load() != hold_id_) return false;
  // A transaction belongs to the snapshot at P iff its commit record starts before P (the slot's
  // consistent point, where decoding starts): Begin carries that position.
  const auto* begin =
      item.kind == cdc::StreamItem::Kind::Message ? std::get_if<cdc::pgoutput::Begin>(&item.message) : nullptr;
  const bool past =
      begin != nullptr ? begin->final_lsn >= until : item.kind == cdc::StreamItem::Kind::Keepalive && item.lsn >= until;
  if (!past) return false;
  if (batch_open_) {
    if (auto ok = commit_batch(); !ok) return ok.take_error();
  }
  hold_->held_at = applied_.value();
  hold_->held_for = hold_id_;
  hold_reached_ = true;
  spdlog::debug("stream: held at {} for verify (its snapshot is at {})", applied_, until);
  if (begin == nullptr) return false;  // a keepalive: handle it as usual
  deferred_ = std::move(item);
  return true;
}

bool ApplyLoop::lingering() const {
  // Only worth it when another transaction is likely to arrive within the linger: at low rates
  // it would add latency and save nothing.
  const std::chrono::microseconds linger{live_settings().linger_us.load(std::memory_order_relaxed)};
  return linger.count() > 0 && arrival_gap_us_ < static_cast<double>(linger.count());
}

ApplyLoop::Clock::time_point ApplyLoop::batch_due_at() const {
  const auto cap =
      batch_started_ + std::chrono::milliseconds(live_settings().max_batch_delay_ms.load(std::memory_order_relaxed));
  if (!lingering()) return cap;
  return std::min(
      cap, batch_started_ + std::chrono::microseconds(live_settings().linger_us.load(std::memory_order_relaxed)));
}

bool ApplyLoop::batch_due() const {
  if (stop_requested()) return true;
  if (batch_bytes_ >= static_cast<std::size_t>(cfg_.apply.max_batch_bytes)) return true;
  const auto now = Clock::now();
  if (now - batch_started_ >=
      std::chrono::milliseconds(live_settings().max_batch_delay_ms.load(std::memory_order_relaxed))) {
    return true;
  }
  // More whole transactions are buffered: take them into this batch first.
  if (queue_.has_complete()) return false;
  // Nothing complete buffered (a transaction that has only begun to arrive may take a while: its
  // source may still be decoding it). Commit now, unless transactions arrive fast enough that
  // waiting a little for the next ones is cheaper than a target commit each.
  return !lingering() || now >= batch_due_at();
}

void ApplyLoop::note_arrival(std::chrono::system_clock::time_point received) {
  // Exponentially weighted mean gap between source commits as the reader decoded them (1/8 new).
  if (last_arrival_ != std::chrono::system_clock::time_point{}) {
    const auto gap = std::chrono::duration<double, std::micro>(received - last_arrival_).count();
    arrival_gap_us_ += (std::max(0.0, gap) - arrival_gap_us_) / 8.0;
  }
  last_arrival_ = received;
}

Status ApplyLoop::handle(const cdc::StreamItem& item) {
  switch (item.kind) {
    case cdc::StreamItem::Kind::Reset:
      // The source connection dropped. A transaction cut in half will be resent from its Begin,
      // and so will everything after the durable position: drop the batch if it holds half a
      // transaction, keep (commit) it otherwise.
      if (in_source_txn_) {
        drop_batch();
        batch_open_ = false;
        in_source_txn_ = false;
        return {};
      }
      return batch_open_ ? commit_batch() : Status{};
    case cdc::StreamItem::Kind::Keepalive:
      if (batch_open_ || in_source_txn_) return {};
      // The server may be waiting for our flush position (a shutting-down walsender pings until
      // it hears it, and its pings keep the queue from ever running dry): when it asks, report
      // what is applied at once. Plain keepalives come about once per source transaction at a
      // steady rate; they keep the usual pace.
      report(item.reply_requested);
      if (queue_.empty()) confirm_idle(item.lsn);
      return {};
    case cdc::StreamItem::Kind::Message:
      batch_bytes_ += item.bytes;
      item_received_ = item.received;
      return on_message(item.message, item.lsn);
  }
  return {};
}

Status ApplyLoop::on_message(const cdc::pgoutput::Message& m, Lsn at) {
  if (const auto* b = std::get_if<cdc::pgoutput::Begin>(&m)) {
    in_source_txn_ = true;
    xid_ = b->xid;
    txn_final_ = b->final_lsn;
    log_context().xid = b->xid.value();
    log_context().lsn = b->final_lsn.value();
    // Applied before (the source resends from its confirmed position after a reconnect).
    skip_txn_ = b->final_lsn < applied_;
    // pgoutput timestamps are microseconds since 2000-01-01 UTC.
    txn_committed_ = std::chrono::system_clock::time_point{} + std::chrono::seconds(946684800) +
                     std::chrono::microseconds(b->commit_time_us);
    if (!skip_txn_ && !unapplied_marked_) {
      board_.set_oldest_unapplied(txn_committed_);
      unapplied_marked_ = true;
    }
    return {};
  }
  if (const auto* c = std::get_if<cdc::pgoutput::Commit>(&m)) {
    in_source_txn_ = false;
    note_arrival(item_received_);
    if (!batch_open_) {  // nothing of ours changed (or a replay): nothing delivered is pending
      board_.set_oldest_unapplied(std::nullopt);
      unapplied_marked_ = false;
      log_context() = {};
    }
    if (skip_txn_) return {};
    if (!batch_open_) return {};
    batch_end_ = c->end_lsn;
    ++batch_txns_;
    batch_times_.push_back({txn_committed_, item_received_, std::chrono::system_clock::now()});
    if (batch_due()) return commit_batch();
    return {};
  }
  if (const auto* r = std::get_if<cdc::pgoutput::RelationMessage>(&m)) {
    if (!batch_open_) {
      if (auto ok = open_batch(); !ok) return ok;  // DDL and catalog reads run inside the batch
    }
    if (auto ok = await_source_visible(); !ok) return ok;
    auto ok = relations_.update(r->relation, applier_, at.is_invalid() ? txn_final_ : at);
    if (!ok && ok.error().retryable() && !relations_.source_ok()) source_catalog_lost_ = true;
    return ok;
  }
  if (skip_txn_) return {};
  if (std::holds_alternative<cdc::pgoutput::Insert>(m) || std::holds_alternative<cdc::pgoutput::Update>(m) ||
      std::holds_alternative<cdc::pgoutput::Delete>(m) || std::holds_alternative<cdc::pgoutput::Truncate>(m)) {
    if (!batch_open_) {
      if (auto ok = open_batch(); !ok) return ok;
    }
    return apply_change(m);
  }
  if (const auto* lm = std::get_if<cdc::pgoutput::LogicalMessage>(&m)) {
    // crmsync cutover's probe and marker (daemon/cutover.hpp): transactions with nothing else in
    // them, committed on the target all the same, so that crmsync.apply_progress passes them.
    if (lm->transactional && in_source_txn_ && lm->prefix == kCutoverPrefix && !batch_open_) return open_batch();
    if (!lm->transactional && lm->prefix == kHeartbeatPrefix) on_heartbeat(*lm);
  }
  return {};  // Origin, Type, other logical messages: nothing to apply
}

Status ApplyLoop::apply_change(const cdc::pgoutput::Message& m) {
  if (const auto* t = std::get_if<cdc::pgoutput::Truncate>(&m)) return apply_truncate(*t);
  const Oid oid = std::visit(
      [](const auto& x) -> Oid {
        if constexpr (requires { x.relation; }) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x.relation)>, Oid>) return x.relation;
        }
        return Oid{};
      },
      m);
  const auto* rel = relations_.find(oid);
  if (rel == nullptr) {
    return Error{ErrorCode::ProtocolViolation,
                 fmt::format("at {}: a change for relation {} arrived before its Relation message", txn_final_, oid)};
  }
  if (!rel->replicated) return {};
  ++batch_changes_[oid][std::holds_alternative<cdc::pgoutput::Insert>(m)   ? 0
                        : std::holds_alternative<cdc::pgoutput::Update>(m) ? 1
                                                                           : 2];
  const WriteContext writes{.applier = applier_,
                            .source = relations_.source(),
                            .commit = txn_final_,
                            .skipped = skipped_,
                            .letters = letters_,
                            .lookups = &lookups_};
  if (!lookup_tables_.empty() && !std::holds_alternative<cdc::pgoutput::Insert>(m) &&
      lookup_tables_.contains(config::TableName{rel->route.schema, rel->route.table})) {
    lookups_.clear();
  }
  const bool resumed = filter_.covers(rel->copied_as);
  if (const auto* up = std::get_if<cdc::pgoutput::Update>(&m); up != nullptr && (resumed || rel->mapper)) {
    // Its unchanged TOASTed values may be read back from the source (resumed_copy.cpp,
    // mapped_writes.cpp): as this transaction left them, so once it is visible there.
    const auto& row = up->new_row;
    if (std::any_of(row.begin(), row.end(), [](const Value& v) { return v.is_unchanged_toast(); })) {
      if (auto ok = await_source_visible(); !ok) return ok;
    }
  }
  if (resumed) {
    return apply_resumed({.filter = filter_, .rel = *rel, .xid = xid_, .commit = txn_final_, .writes = writes}, m);
  }
  if (const auto* ins = std::get_if<cdc::pgoutput::Insert>(&m)) return write_insert(*rel, writes, ins->new_row);
  if (const auto* up = std::get_if<cdc::pgoutput::Update>(&m)) {
    return write_update(*rel, writes, to_sink(up->old_kind), up->old_row, up->new_row);
  }
  const auto& del = std::get<cdc::pgoutput::Delete>(m);
  return write_remove(*rel, writes, to_sink(del.old_kind), del.old_row);
}

Status ApplyLoop::apply_truncate(const cdc::pgoutput::Truncate& t) {
  lookups_.clear();  // parents may be among the emptied tables
  std::vector<const sink::postgres::Route*> whole;
  std::vector<const sink::postgres::Route*> emptied;  // whole, and those emptied in part below
  struct Partial {
    const CachedRelation* rel;
    std::vector<ChunkFilter::Range> ranges;
  };
  std::vector<Partial> partial;
  for (const auto oid : t.relations) {
    const auto* rel = relations_.find(oid);
    if (rel == nullptr || !rel->replicated) continue;
    auto ranges = filter_.ranges_not_seeing(rel->copied_as, xid_, txn_final_);
    if (ranges.empty()) continue;  // copied after this TRUNCATE throughout
    emptied.push_back(&rel->route);
    if (ranges.size() == 1 && !ranges.front().lower && !ranges.front().upper) {
      whole.push_back(&rel->route);
    } else {
      partial.push_back({rel, std::move(ranges)});
    }
  }
  if (emptied.empty()) return {};
  // The source's CASCADE already listed every published table it emptied; the target's own
  // tables that reference these are the new CRM's data, which crmsync never empties (nor leaves
  // dangling: a DELETE under the replica role fires no foreign-key trigger).
  auto check = applier_.check_truncate(emptied);
  if (!check) return check.take_error();
  if (!check->blockers.empty()) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("at {}: the source truncated {} table(s) (source transaction {}), but on the target {}; "
                             "crmsync never cascades a TRUNCATE into tables it does not replicate (nor does "
                             "PostgreSQL's logical replication). Empty those rows yourself if that is what the new "
                             "CRM wants, or drop or redefine the constraint",
                             txn_final_, emptied.size(), xid_.value(), fmt::join(check->blockers, "; "))};
  }
  for (const auto& p : partial) {
    // Part of the table was copied after this TRUNCATE: empty only the chunks copied before it.
    auto key = target_chunk_column(filter_, *p.rel);
    if (!key) return key.take_error();
    for (const auto& r : p.ranges) {
      if (auto ok = applier_.remove_range(p.rel->route, *key, r.lower, r.upper); !ok) return ok;
    }
    if (t.restart_identity && p.rel->route.owned.empty()) {
      if (auto ok = applier_.restart_identity(p.rel->route); !ok) return ok;
    }
  }
  // A table other pipelines write too (consolidation): only this pipeline's rows go, by DELETE,
  // and the table's sequences are left alone (they number every pipeline's rows).
  std::vector<const sink::postgres::Route*> shared;
  std::erase_if(whole, [&](const sink::postgres::Route* r) {
    if (r->owned.empty()) return false;
    shared.push_back(r);
    return true;
  });
  for (const auto* route : shared) {
    if (auto ok = applier_.remove_all(*route); !ok) return ok;
  }
  if (whole.empty()) return {};
  if (check->referenced) {
    // A foreign key forbids TRUNCATE even when nothing references a row: delete them instead.
    for (const auto* route : whole) {
      if (auto ok = applier_.remove_all(*route); !ok) return ok;
      if (t.restart_identity) {
        if (auto ok = applier_.restart_identity(*route); !ok) return ok;
      }
    }
    return {};
  }
  return applier_.truncate(whole, t.restart_identity);
}

Status ApplyLoop::await_source_visible() {
  if (visible_xid_ == xid_ || xid_.value() == 0) return {};
  auto seen = await_visible_on_source(relations_.source(), xid_, txn_final_, cfg_.source.slot, [this] {
    board_.note_progress();  // waiting for the source on purpose is not a hung apply
    return !stop_requested();
  });
  if (!seen) {
    if (seen.error().retryable() && !relations_.source_ok()) source_catalog_lost_ = true;
    return seen.take_error();
  }
  if (*seen == SourceWait::GaveUp) {
    stopped_midway_ = true;
    return Error{ErrorCode::Internal, "stop requested while a source transaction was not yet visible"};
  }
  visible_xid_ = xid_;
  return {};
}

// A batch that does not commit takes back what it did: its writes, its dead letters' keys, and
// its count of skipped rows (counted again when its transactions come again).
void ApplyLoop::drop_batch() {
  log_context() = {};
  applier_.rollback();
  letters_.rollback();
  lookups_.clear();
  skipped_ = skipped_before_batch_;
  batch_changes_.clear();
}

Status ApplyLoop::open_batch() {
  if (auto ok = applier_.begin(); !ok) return ok;
  skipped_before_batch_ = skipped_;
  batch_open_ = true;
  batch_started_ = Clock::now();
  batch_bytes_ = 0;
  batch_txns_ = 0;
  batch_times_.clear();
  return {};
}

Status ApplyLoop::commit_batch() {
  if (batch_txns_ == 0) {
    // Only Relation bookkeeping (and maybe DDL) so far, inside an unfinished transaction: keep it.
    if (in_source_txn_) return {};
    drop_batch();
    batch_open_ = false;
    return {};
  }
  const auto before = applier_.counters().rows_not_found;
  if (auto ok = applier_.commit(batch_end_, skipped_ - skipped_before_batch_); !ok) {
    batch_open_ = false;
    letters_.rollback();
    skipped_ = skipped_before_batch_;
    return ok;
  }
  skipped_before_batch_ = skipped_;
  batch_open_ = false;
  letters_.commit();
  ++target_commits_;
  // Durable up to batch_end_: every transaction the stream sends from now on, also after a
  // restart, commits at or past it, so tables whose last snapshot lies before it leave the filter.
  if (!filter_.empty()) {
    for (const auto& t : filter_.pass(batch_end_)) {
      spdlog::info(
          "stream: at {} the stream is past the last snapshot {} was copied at; its changes are applied "
          "without the resumed-copy filter from here on",
          batch_end_, t);
    }
  }
  source_txns_ += batch_txns_;
  publish_batch();
  record_lag();
  if (applier_.counters().rows_not_found > before) {
    spdlog::warn(
        "apply: {} UPDATE/DELETE(s) up to {} found no row on the target: the target differs from the "
        "source (run crmsync verify)",
        applier_.counters().rows_not_found - before, batch_end_);
  }
  // Durable on the target first (the authority on start-up), then in the checkpoint, then offered
  // to the source: the reporter writes the checkpoint and only then publishes the position.
  applied_ = batch_end_;
  target_at_ = batch_end_;
  spdlog::debug("apply: committed {} transaction(s) up to {}", batch_txns_, batch_end_);
  log_context() = {};  // what is logged from here on is not about that transaction
  report(false);
  return {};
}

void ApplyLoop::publish_batch() {
  std::int64_t changes = 0;
  constexpr const char* kOps[] = {"insert", "update", "delete"};
  for (const auto& [oid, by_op] : batch_changes_) {
    const auto* rel = relations_.find(oid);
    const auto table = rel != nullptr ? rel->source.qualified() : fmt::format("oid {}", oid.value());
    for (std::size_t op = 0; op < by_op.size(); ++op) {
      if (by_op[op] == 0) continue;
      changes += by_op[op];
      board_.metrics().changes.Add({{"table", table}, {"op", kOps[op]}}).Increment(static_cast<double>(by_op[op]));
    }
  }
  batch_changes_.clear();
  board_.add_applied(changes, batch_txns_, 1);
  board_.metrics().batch_transactions.Observe(static_cast<double>(batch_txns_));
  board_.metrics().batch_seconds.Observe(std::chrono::duration<double>(Clock::now() - batch_started_).count());
  board_.set_applied(batch_end_);
  board_.set_received(reader_.server_position());
  board_.set_oldest_unapplied(std::nullopt);
  unapplied_marked_ = false;
  if (heartbeat_pending_) {
    board_.heartbeat_arrived(*heartbeat_pending_);
    heartbeat_pending_.reset();
  }
}

void ApplyLoop::on_heartbeat(const cdc::pgoutput::LogicalMessage& m) {
  // Only this pipeline's: every pipeline on the source receives every non-transactional message.
  const std::string_view content(m.content.data(), m.content.size());
  const auto colon = content.rfind(':');
  if (colon == std::string_view::npos || content.substr(0, colon) != cfg_.name) return;
  std::uint64_t seq = 0;
  for (const char c : content.substr(colon + 1)) {
    if (c < '0' || c > '9') return;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // Everything before it is on the target once no batch is open (or when the open one commits).
  if (batch_open_ || in_source_txn_) {
    heartbeat_pending_ = seq;
    return;
  }
  board_.heartbeat_arrived(seq);
}

void ApplyLoop::record_lag() {
  const auto done = std::chrono::system_clock::now();
  const auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d); };
  {
    // The Prometheus histograms, one update per stage and batch (bucket counts, then the sum).
    const auto bounds = telemetry::lag_buckets();
    std::array<std::vector<double>, 4> counts;
    std::array<double, 4> sums{};
    for (auto& c : counts) c.assign(bounds.size() + 1, 0.0);
    for (const auto& t : batch_times_) {
      const double v[] = {std::chrono::duration<double>(t.received - t.committed).count(),
                          std::chrono::duration<double>(t.taken - t.received).count(),
                          std::chrono::duration<double>(done - t.taken).count(),
                          std::chrono::duration<double>(done - t.committed).count()};
      for (std::size_t i = 0; i < counts.size(); ++i) {
        const double x = std::max(0.0, v[i]);
        const auto b = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), x) - bounds.begin());
        counts[i][b] += 1;
        sums[i] += x;
      }
    }
    if (!batch_times_.empty()) {
      for (std::size_t i = 0; i < counts.size(); ++i) stage_hist_[i]->ObserveMultiple(counts[i], sums[i]);
    }
  }
  for (auto* stats : {&session_lag_, &period_lag_}) {
    for (const auto& t : batch_times_) {
      stats->total.record(us(done - t.committed));
      stats->to_us.record(us(t.received - t.committed));
      stats->queued.record(us(t.taken - t.received));
      stats->applying.record(us(done - t.taken));
    }
  }
  batch_times_.clear();
  // One line a minute while transactions flow (never one per transaction or batch).
  constexpr auto kPeriod = std::chrono::seconds(60);
  if (Clock::now() - period_started_ < kPeriod) return;
  spdlog::info("apply: {} source transactions in the last {} s, lag source commit -> target commit {}",
               period_lag_.total.count(),
               std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - period_started_).count(),
               period_lag_.total.summary());
  period_lag_ = LagStats{};
  period_started_ = Clock::now();
}

std::string ApplyLoop::lag_summary() const {
  const auto& l = session_lag_;
  if (l.total.count() == 0) return "no transactions applied";
  const auto ms = [](LatencyHistogram::Duration d) { return static_cast<double>(d.count()) / 1000.0; };
  return fmt::format(
      "lag source commit -> target commit {}; p99 by stage: to crmsync {:.1f} ms, queued {:.1f} ms, "
      "applying {:.1f} ms",
      l.total.summary(), ms(l.to_us.percentile(0.99)), ms(l.queued.percentile(0.99)), ms(l.applying.percentile(0.99)));
}

void ApplyLoop::report(bool soon) {
  if (applied_ <= Lsn{flushed_.load()}) return;
  if (soon) {
    reporter_.applied_soon(applied_);
  } else {
    reporter_.applied(applied_);
  }
}

void ApplyLoop::confirm_idle(Lsn lsn) {
  // Nothing of ours is pending before `lsn` (the reader was between transactions and the queue is
  // empty): confirming it lets the source recycle WAL while our tables are idle. Once a second.
  if (lsn <= applied_ || Clock::now() - last_idle_confirm_ < std::chrono::seconds(1)) return;
  last_idle_confirm_ = Clock::now();
  applied_ = lsn;
  board_.set_applied(lsn);
  board_.set_received(reader_.server_position());
  report(false);
}

}  // namespace crmsync::daemon
