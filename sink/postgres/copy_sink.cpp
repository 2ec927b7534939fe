#include "sink/postgres/copy_sink.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pq/copy.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::sink::postgres {
namespace {

Status run(pq::Connection& conn, const std::string& sql) {
  auto res = conn.exec(sql);
  if (!res) {
    return res.take_error();
  }
  return {};
}

}  // namespace

Status ensure_state_tables(pq::Connection& conn) {
  // One implicit transaction, under a lock: IF NOT EXISTS is not safe against a concurrent
  // CREATE, and pipelines that consolidate into one target start side by side.
  return run(conn, fmt::format(R"sql(
SELECT pg_advisory_xact_lock(hashtext('crmsync state tables'));
CREATE SCHEMA IF NOT EXISTS {0};
CREATE TABLE IF NOT EXISTS {0}.copy_progress (
  pipeline     text        NOT NULL,
  source_table text        NOT NULL,
  chunk        integer     NOT NULL,
  rows         bigint      NOT NULL,
  snapshot     text        NOT NULL,
  copied_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, source_table, chunk)
);
CREATE TABLE IF NOT EXISTS {0}.apply_progress (pipeline text PRIMARY KEY, lsn pg_lsn NOT NULL,
                                               applied_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {0}.dead_letters (
  id           bigserial   PRIMARY KEY,
  pipeline     text        NOT NULL,
  source_table text        NOT NULL,
  source_key   text        NOT NULL,
  operation    text        NOT NULL,
  lsn          pg_lsn,
  copy_chunk   integer,
  source_row   jsonb       NOT NULL,
  old_key      jsonb       NOT NULL,
  rule         text        NOT NULL,
  column_name  text        NOT NULL,
  reason       text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
-- A running daemon held at a source position for crmsync verify (daemon/hold.hpp): one row per
-- pipeline while a verify session (holder: its backend pid) holds it.
CREATE TABLE IF NOT EXISTS {0}.holds (
  pipeline     text        PRIMARY KEY,
  holder       integer     NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  at_lsn       pg_lsn,
  paused_lsn   pg_lsn,
  held_lsn     pg_lsn
);
-- crmsync cutover asks the daemon to stop once the target holds its marker (daemon/cutover.hpp).
CREATE TABLE IF NOT EXISTS {0}.stop_requests (
  pipeline     text        PRIMARY KEY,
  stop_at      pg_lsn      NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS dead_letters_key ON {0}.dead_letters (pipeline, source_table, source_key);
-- Rows a mapping refused under on_invalid: skip, counted where they were refused (copy chunk,
-- stream batch) in the same transaction, so that rows in = written + dead letters + skipped
-- holds across any crash. Added to state tables of older versions only when missing: ALTER TABLE
-- would take an exclusive lock on a table other pipelines write.
DO $$BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{0}.copy_progress'::regclass AND attname = 'skipped') THEN
    ALTER TABLE {0}.copy_progress ADD COLUMN skipped bigint NOT NULL DEFAULT 0;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{0}.apply_progress'::regclass AND attname = 'skipped') THEN
    ALTER TABLE {0}.apply_progress ADD COLUMN skipped bigint NOT NULL DEFAULT 0;
  END IF;
END$$)sql",
                               kStateSchema));
}

Result<std::vector<CopiedChunk>> copied_chunks(pq::Connection& conn, const std::string& pipeline) {
  auto res = conn.exec_params(fmt::format("SELECT source_table, chunk, rows, snapshot FROM {}.copy_progress "
                                          "WHERE pipeline = $1 ORDER BY source_table, chunk",
                                          kStateSchema),
                              {pipeline});
  if (!res) {
    return res.take_error();
  }
  std::vector<CopiedChunk> out;
  for (int r = 0; r < res->rows(); ++r) {
    out.push_back({std::string(res->get(r, 0)), static_cast<std::uint32_t>(std::stoul(std::string(res->get(r, 1)))),
                   std::stoll(std::string(res->get(r, 2))), std::string(res->get(r, 3))});
  }
  return out;
}

Status reset_table(pq::Connection& conn, const std::string& pipeline, const std::string& source_table,
                   const std::string& schema, const std::string& table, const std::string& owned) {
  auto begun = run(conn, "BEGIN");
  if (!begun) return begun;
  auto cleared = truncate(conn, schema, table, owned);
  if (!cleared) {
    (void)run(conn, "ROLLBACK");
    return cleared;
  }
  // The table's copy letters go with its rows: copied again, its rows are refused (or not) again.
  auto forgot = conn.exec_params(
      fmt::format("DELETE FROM {0}.copy_progress WHERE pipeline = $1 AND source_table = $2", kStateSchema),
      {pipeline, source_table});
  if (forgot) {
    forgot = conn.exec_params(fmt::format("DELETE FROM {}.dead_letters WHERE pipeline = $1 AND source_table = $2 AND "
                                          "copy_chunk IS NOT NULL",
                                          kStateSchema),
                              {pipeline, source_table});
  }
  if (!forgot) {
    (void)run(conn, "ROLLBACK");
    return forgot.take_error();
  }
  return run(conn, "COMMIT");
}

Result<bool> is_empty(pq::Connection& conn, const std::string& schema, const std::string& table,
                      const std::string& owned) {
  auto res = conn.exec(fmt::format("SELECT NOT EXISTS (SELECT 1 FROM {}{}{})", pq::quote_qualified(schema, table),
                                   owned.empty() ? "" : " WHERE ", owned));
  if (!res) {
    return res.take_error();
  }
  return res->get(0, 0) == "t";
}

Status truncate(pq::Connection& conn, const std::string& schema, const std::string& table, const std::string& owned) {
  if (!owned.empty())
    return run(conn, fmt::format("DELETE FROM {} WHERE {}", pq::quote_qualified(schema, table), owned));
  return run(conn, fmt::format("TRUNCATE {}", pq::quote_qualified(schema, table)));
}

Status create_table(pq::Connection& conn, const TableInfo& source) {
  std::vector<std::string> defs;
  std::vector<std::string> key;
  for (const auto& c : source.columns) {
    // A generated column is created generated (the copy and the stream never write it), so it is
    // computed on the target as on the source instead of staying NULL.
    const auto generated = c.generated ? fmt::format(" GENERATED ALWAYS AS ({}) STORED", c.generation) : std::string();
    defs.push_back(fmt::format("{} {}{}{}", pq::quote_ident(c.name), c.type, generated, c.not_null ? " NOT NULL" : ""));
    if (c.primary_key) key.push_back(pq::quote_ident(c.name));
  }
  if (!key.empty()) {
    defs.push_back(fmt::format("PRIMARY KEY ({})", fmt::join(key, ", ")));
  }
  return run(conn, fmt::format("CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE {} ({})", pq::quote_ident(source.schema),
                               pq::quote_qualified(source.schema, source.name), fmt::join(defs, ", ")));
}

Result<ChunkWriter> ChunkWriter::begin(pq::Connection& conn, const std::string& schema, const std::string& table,
                                       const std::vector<std::string>& columns, bool binary) {
  std::vector<std::string> quoted;
  quoted.reserve(columns.size());
  for (const auto& c : columns) quoted.push_back(pq::quote_ident(c));
  auto begun = run(conn, "BEGIN");
  if (!begun) {
    return begun.take_error();
  }
  auto copy = conn.exec(fmt::format("COPY {} ({}) FROM STDIN{}", pq::quote_qualified(schema, table),
                                    fmt::join(quoted, ", "), binary ? " (FORMAT binary)" : ""));
  if (!copy) {
    (void)run(conn, "ROLLBACK");
    return copy.take_error();
  }
  return ChunkWriter(conn);
}

Status ChunkWriter::put(std::string_view data) {
  return pq::copy_in_put(*conn_, data);
}

Result<std::int64_t> ChunkWriter::commit(const std::string& pipeline, const CopiedChunk& chunk,
                                         const std::vector<DeadLetter>& letters) {
  auto rows = pq::copy_in_end(*conn_);
  if (!rows) {
    (void)run(*conn_, "ROLLBACK");
    return rows.take_error();
  }
  for (const auto& letter : letters) {
    if (auto ok = run(*conn_, insert_letter_sql(pipeline, letter)); !ok) {
      (void)run(*conn_, "ROLLBACK");
      return ok.take_error();
    }
  }
  auto recorded = conn_->exec_params(
      fmt::format("INSERT INTO {}.copy_progress (pipeline, source_table, chunk, rows, snapshot, skipped) "
                  "VALUES ($1, $2, $3, $4, $5, $6)",
                  kStateSchema),
      {pipeline, chunk.source_table, std::to_string(chunk.index), std::to_string(*rows), chunk.snapshot,
       std::to_string(chunk.skipped)});
  if (!recorded) {
    (void)run(*conn_, "ROLLBACK");
    return recorded.take_error();
  }
  auto committed = run(*conn_, "COMMIT");
  if (!committed) {
    return committed.take_error();
  }
  return *rows;
}

void ChunkWriter::abort(const char* reason) {
  pq::copy_in_abort(*conn_, reason);
  (void)run(*conn_, "ROLLBACK");
}

}  // namespace crmsync::sink::postgres
