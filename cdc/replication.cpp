#include "cdc/replication.hpp"

#include <fmt/format.h>

#include <charconv>

#include "cdc/row_filter.hpp"

namespace crmsync::cdc {
namespace {

Error protocol_error(std::string what) {
  return Error{ErrorCode::ProtocolViolation, std::move(what)};
}

}  // namespace

Result<SystemIdentity> identify_system(pq::Connection& repl) {
  auto res = repl.exec("IDENTIFY_SYSTEM");
  if (!res) {
    return res.take_error();
  }
  if (res->rows() != 1 || res->columns() < 3) {
    return protocol_error(fmt::format("IDENTIFY_SYSTEM on {} returned {} rows of {} columns, expected 1 of 4",
                                      repl.description(), res->rows(), res->columns()));
  }
  SystemIdentity id;
  id.system_identifier = std::string(res->get(0, 0));
  const auto tli = res->get(0, 1);
  if (std::from_chars(tli.data(), tli.data() + tli.size(), id.timeline).ec != std::errc{}) {
    return protocol_error(fmt::format("IDENTIFY_SYSTEM returned timeline \"{}\"", tli));
  }
  auto pos = Lsn::parse(res->get(0, 2));
  if (!pos) {
    return protocol_error(fmt::format("IDENTIFY_SYSTEM returned xlogpos: {}", pos.error().message));
  }
  id.xlogpos = *pos;
  return id;
}

Result<CreatedSlot> create_slot_exporting_snapshot(pq::Connection& repl, const std::string& slot,
                                                   SlotLifetime lifetime) {
  auto res = repl.exec(fmt::format("CREATE_REPLICATION_SLOT {}{} LOGICAL pgoutput (SNAPSHOT 'export')",
                                   pq::quote_ident(slot), lifetime == SlotLifetime::Temporary ? " TEMPORARY" : ""));
  if (!res) {
    return res.take_error();
  }
  if (res->rows() != 1 || res->columns() < 3 || res->is_null(0, 2)) {
    return protocol_error(
        fmt::format("CREATE_REPLICATION_SLOT on {} returned no exported snapshot", repl.description()));
  }
  auto lsn = Lsn::parse(res->get(0, 1));
  if (!lsn) {
    return protocol_error(fmt::format("CREATE_REPLICATION_SLOT returned consistent_point: {}", lsn.error().message));
  }
  return CreatedSlot{std::string(res->get(0, 0)), *lsn, std::string(res->get(0, 2))};
}

Result<std::optional<SlotInfo>> find_slot(pq::Connection& conn, const std::string& slot) {
  // wal_status arrived with PostgreSQL 13 (max_slot_wal_keep_size); before it a slot is never lost.
  auto res = conn.exec_params(fmt::format("SELECT plugin, database, confirmed_flush_lsn, active, {} FROM "
                                          "pg_replication_slots WHERE slot_name = $1",
                                          conn.server_version() >= 130000 ? "wal_status" : "NULL::text"),
                              {slot});
  if (!res) {
    return res.take_error();
  }
  if (res->rows() == 0) {
    return std::optional<SlotInfo>{};
  }
  SlotInfo info{.plugin = std::string(res->get(0, 0)),
                .database = std::string(res->get(0, 1)),
                .confirmed_flush = std::nullopt,
                .active = res->get(0, 3) == "t",
                .wal_status = std::string(res->get(0, 4))};
  if (!res->is_null(0, 2)) {
    auto lsn = Lsn::parse(res->get(0, 2));
    if (lsn) {
      info.confirmed_flush = *lsn;
    }
  }
  return std::optional<SlotInfo>{info};
}

Status drop_slot(pq::Connection& conn, const std::string& slot) {
  auto res = conn.exec_params(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", {slot});
  if (!res) {
    return res.take_error();
  }
  return {};
}

Status ensure_publication(pq::Connection& conn, const std::string& publication,
                          const std::vector<config::TableName>& tables, const config::RowFilters& filters) {
  auto exists = conn.exec_params("SELECT 1 FROM pg_publication WHERE pubname = $1", {publication});
  if (!exists) return exists.take_error();
  // One transaction: a row filter PostgreSQL would enforce against the source's own UPDATEs is
  // refused before anyone can see it. exec_params: a `where` is one expression, never a second
  // statement.
  std::vector<std::string> statements;
  if (exists->rows() == 0) {
    std::vector<std::string> list;
    for (const auto& t : tables) list.push_back(publication_entry(t, filters));
    statements.push_back(fmt::format("CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)",
                                     pq::quote_ident(publication), fmt::join(list, ", ")));
  } else {
    // Existing publication (a hand-made one, or ours from an attempt that stopped before the
    // copy): the filters it already has on configured tables must be the config's, or the copy
    // and the stream would follow the publication's and ignore the config.
    if (!filters.empty()) {
      auto want = deparsed_row_filters(conn, filters);
      if (!want) return want.take_error();
      auto have = published_row_filters(conn, publication);
      if (!have) return have.take_error();
      for (const auto& [table, expr] : *want) {
        const auto it = have->find(table);
        if (it == have->end() || it->second == expr) continue;  // absent: added below, or reported
        return Error{ErrorCode::StateMismatch,
                     fmt::format("publication \"{}\" filters {} by {} but its mapping's where is {}; rows of one "
                                 "filter would be copied and streamed under the other. Make them the same (ALTER "
                                 "PUBLICATION {} SET TABLE ...), or drop the publication before the first run",
                                 publication, table.qualified(), it->second, expr, pq::quote_ident(publication))};
      }
    }
    // Existing publication: add what it lacks. pg_publication_tables lists leaf partitions unless
    // publish_via_partition_root, which we set; compare on schema and name.
    for (const auto& t : tables) {
      auto has = conn.exec_params(
          "SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
          "JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
          "WHERE p.pubname = $1 AND n.nspname = $2 AND c.relname = $3",
          {publication, t.schema, t.table});
      if (!has) return has.take_error();
      if (has->rows() > 0) continue;
      statements.push_back(fmt::format("ALTER PUBLICATION {} ADD TABLE {}", pq::quote_ident(publication),
                                       publication_entry(t, filters)));
    }
  }
  if (statements.empty()) return {};
  if (auto ok = conn.exec("BEGIN"); !ok) return ok.take_error();
  const auto rollback = [&conn](Error e) -> Status {
    (void)conn.exec("ROLLBACK");
    return e;
  };
  for (const auto& sql : statements) {
    if (auto ok = conn.exec_params(sql, {}); !ok) return rollback(ok.take_error());
  }
  if (!filters.empty()) {
    if (auto ok = check_filter_columns(conn, publication); !ok) return rollback(ok.error());
  }
  if (auto ok = conn.exec("COMMIT"); !ok) return ok.take_error();
  return {};
}

Status drop_publication(pq::Connection& conn, const std::string& publication) {
  auto res = conn.exec(fmt::format("DROP PUBLICATION IF EXISTS {}", pq::quote_ident(publication)));
  if (!res) {
    return res.take_error();
  }
  return {};
}

}  // namespace crmsync::cdc
