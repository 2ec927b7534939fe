#pragma once
// The copy phase's target side: one chunk = one target transaction that COPYs the rows and
// records the chunk in crmsync.copy_progress. The two commit together or not at all, so the target
// itself says which chunks it holds; a crash can never leave half a chunk or a chunk without its
// record (which is what makes resume exact: cdc/README.md).

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/table.hpp"
#include "pq/connection.hpp"

namespace crmsync::sink::postgres {

struct DeadLetter;

/// Schema and table crmsync keeps its own bookkeeping in, on the target.
inline constexpr const char* kStateSchema = "crmsync";

struct CopiedChunk {
  std::string source_table;
  std::uint32_t index = 0;
  std::int64_t rows = 0;
  std::string snapshot;
  std::int64_t skipped = 0;  // rows a mapping refused under on_invalid: skip
};

/// CREATE SCHEMA/TABLE IF NOT EXISTS crmsync.copy_progress.
Status ensure_state_tables(pq::Connection& conn);
/// Chunks this pipeline has committed on the target.
Result<std::vector<CopiedChunk>> copied_chunks(pq::Connection& conn, const std::string& pipeline);
/// Removes a table's rows and its progress records in one transaction (re-copying a ctid-chunked
/// table as a whole).
Status reset_table(pq::Connection& conn, const std::string& pipeline, const std::string& source_table,
                   const std::string& schema, const std::string& table, const std::string& owned = "");

/// True when the target table has no rows.
/// `owned`, when not empty, is the SQL condition on the rows this pipeline owns in a table that
/// other pipelines write too (consolidation: a mapping's key with a constant); only those count,
/// and only those are emptied (DELETE instead of TRUNCATE).
Result<bool> is_empty(pq::Connection& conn, const std::string& schema, const std::string& table,
                      const std::string& owned = "");
Status truncate(pq::Connection& conn, const std::string& schema, const std::string& table,
                const std::string& owned = "");
/// CREATE TABLE (and schema) with the source's columns, types, NOT NULLs and primary key.
/// Generated columns are created as plain columns: the copy does not write them and the source
/// expression is not carried over (documented limitation of create_tables).
Status create_table(pq::Connection& conn, const TableInfo& source);

class ChunkWriter {
 public:
  /// BEGIN; COPY schema.table (columns) FROM STDIN [(FORMAT binary)].
  static Result<ChunkWriter> begin(pq::Connection& conn, const std::string& schema, const std::string& table,
                                   const std::vector<std::string>& columns, bool binary);
  Status put(std::string_view data);
  /// Ends the COPY, records the chunk and the rows the mapping refused in it (dead_letters.hpp),
  /// COMMITs. Returns the rows stored.
  Result<std::int64_t> commit(const std::string& pipeline, const CopiedChunk& chunk,
                              const std::vector<DeadLetter>& letters = {});
  /// Abandons the chunk: the target transaction rolls back.
  void abort(const char* reason);

 private:
  explicit ChunkWriter(pq::Connection& conn) : conn_(&conn) {}
  pq::Connection* conn_;
};

}  // namespace crmsync::sink::postgres
