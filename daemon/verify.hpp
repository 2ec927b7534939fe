#pragma once
// `crmsync verify`: does the target hold what the mapping makes of the source? For each mapped
// table, the source rows (through the mapping's `where`) are read in key order and mapped by the
// same RowMapper the copy and the stream use (lookups resolved against the target), their values
// brought into the target's text form by the target's own input functions, and compared with the
// target rows (only the rows this pipeline owns, only the columns the mapping writes) read in the
// same order; a key present on one side only is held until the other side reaches it, so a
// different order costs memory, never a wrong verdict. A table without a key is compared as a
// multiset of rows (duplicates counted).
//
// Both sides are read at one comparison point (daemon/verify_point.hpp): every table's source
// transaction imports the snapshot of a temporary replication slot (position P), every target
// transaction a target snapshot taken while the target held exactly P (the running daemon is held
// there for that moment). Exact under live load: a difference is never a change in flight. Tables
// are verified side by side, `snapshot.parallel` at a time. A table carried as it is (a rename at
// most) is first checksummed per key-range chunk inside both databases; only differing chunks are
// read row by row (verify.cpp, bucket_pass).
//
// A key with a dead letter (crmsync.dead_letters, mapped to its target key) is reported as a dead
// letter, not as missing or different; a row the mapping refuses under `on_invalid: skip` as
// skipped. Neither counts as a difference.

#include <cstdint>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/verify_point.hpp"

namespace crmsync::daemon {

enum class DiffKind { Missing, Extra, Different, DeadLetter, Skipped };
const char* to_string(DiffKind k);

struct KeyDiff {
  DiffKind kind = DiffKind::Missing;
  std::string key;                   // the target key, `"id" = '7'` (the whole row for a table without a key)
  std::vector<std::string> columns;  // Different: the target columns that differ
  std::string note;                  // e.g. the rule that refuses the source row
};

struct TableVerdict {
  std::string source;  // qualified source table
  std::string target;  // qualified target table
  std::int64_t source_rows = 0;
  std::int64_t target_rows = 0;
  std::int64_t missing = 0;
  std::int64_t extra = 0;
  std::int64_t different = 0;
  std::int64_t dead_letters = 0;
  std::int64_t skipped = 0;
  std::vector<KeyDiff> keys;  // the first max_keys differences (and dead letters / skips)
  double seconds = 0;
  std::size_t buckets = 0;            // key-range buckets checksummed in the databases (0: rows only)
  std::size_t buckets_differing = 0;  // of them, compared row by row
  std::string error;                  // could not be verified (and why)
  [[nodiscard]] std::int64_t differences() const { return missing + extra + different; }
};

struct VerifyOptions {
  std::vector<std::string> tables;  // source or target names; empty: every table of source.tables
  std::size_t max_keys = 10;
  std::size_t batch_rows = 5000;
};

struct VerifyReport {
  PointReport point;  // where both sides were read
  std::vector<TableVerdict> tables;
  double seconds = 0;
};

/// Verifies the selected tables; an unknown --table is ErrorCode::InvalidArgument, a connection
/// failure or no comparison point an error; a table that cannot be read has its `error` set.
Result<VerifyReport> verify_tables(const config::PipelineConfig& cfg, const VerifyOptions& options);

std::string render_verify_text(const VerifyReport& report);
std::string render_verify_json(const VerifyReport& report);

/// Prints the report; Ok when every table is equal, VerifyMismatch (3) when one differs, Failure
/// when one could not be verified, Usage for an unknown --table.
ExitCode verify_command(const config::PipelineConfig& cfg, const VerifyOptions& options, bool json);

}  // namespace crmsync::daemon
