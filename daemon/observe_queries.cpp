#include "daemon/observe_queries.hpp"

#include <fmt/format.h>

#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {

std::optional<SlotReading> read_slot(pq::Connection& source, const std::string& slot_name,
                                     std::int64_t max_retained_wal_bytes) {
  // wal_status, safe_wal_size and max_slot_wal_keep_size arrived with PostgreSQL 13; before, a
  // slot is found by its restart_lsn and nothing limits it. pg_settings' number is in MB:
  // current_setting() says "1GB", which no cast reads.
  const bool pg13 = source.server_version() >= 130000;
  auto res = source.exec_params(
      fmt::format("SELECT pg_current_wal_lsn(), s.restart_lsn, {}, "
                  "pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, {} "
                  "FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1",
                  pg13 ? "s.wal_status, s.safe_wal_size"
                       : "CASE WHEN s.slot_name IS NULL THEN NULL ELSE 'reserved' END, NULL::bigint",
                  pg13 ? "(SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size')" : "-1"),
      {slot_name});
  if (!res || res->rows() != 1) return std::nullopt;
  SlotReading out;
  if (auto wal = Lsn::parse(res->get(0, 0))) out.source_wal = *wal;
  auto& slot = out.slot;
  slot.name = slot_name;
  slot.found = !res->is_null(0, 2);
  slot.wal_status = std::string(res->get(0, 2));
  if (!res->is_null(0, 3)) slot.safe_wal_size = std::stoll(std::string(res->get(0, 3)));
  if (!res->is_null(0, 4)) slot.retained_bytes = std::stoll(std::string(res->get(0, 4)));
  slot.max_slot_wal_keep_size_mb = std::stoll(std::string(res->get(0, 5)));
  slot.over_limit = max_retained_wal_bytes > 0 && slot.retained_bytes > max_retained_wal_bytes;
  return out;
}

std::optional<std::map<std::string, std::int64_t>> read_dead_letters(pq::Connection& target,
                                                                     const config::PipelineConfig& cfg) {
  auto res = target.exec_params(
      fmt::format("SELECT source_table, count(*) FROM {}.dead_letters WHERE pipeline = $1 GROUP BY 1 "
                  "/* crmsync monitor */",
                  sink::postgres::kStateSchema),
      {cfg.name});
  if (!res) return std::nullopt;
  std::map<std::string, std::int64_t> by_table;
  for (int r = 0; r < res->rows(); ++r) by_table[std::string(res->get(r, 0))] = std::stoll(std::string(res->get(r, 1)));
  return by_table;
}

}  // namespace crmsync::daemon
