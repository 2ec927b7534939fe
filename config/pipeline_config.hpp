#pragma once
// The typed form of a crmsync YAML file. Everything here has been validated: names are legal,
// required keys are present, enums are known. Defaults are filled in by the loader.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace crmsync::config {

/// A schema-qualified table name as written in the config ("public.contacts"). The loader fills
/// in "public" when the schema is omitted. Names are kept exactly as written (case preserved);
/// quoting for SQL is the job of whoever builds SQL.
struct TableName {
  std::string schema;
  std::string table;
  [[nodiscard]] std::string qualified() const { return schema + "." + table; }
  auto operator<=>(const TableName&) const = default;
};

enum class TargetType { Postgres };
enum class LogFormat { Text, Json };
enum class LogLevel { Trace, Debug, Info, Warn, Error };
enum class OnInvalid { DeadLetter, Skip, Halt };
/// session_replication_role of crmsync's target sessions. Replica (the default, what PostgreSQL's
/// own apply worker uses): foreign keys, ordinary triggers and rules do not fire for replicated
/// rows, so chunks and batches may commit in any order. Origin: they fire (see config/README.md
/// for what that cannot do).
enum class ReplicationRole { Replica, Origin };

struct SourceConfig {
  std::string dsn;                  // secret-bearing: never log it, use redact_dsn()
  std::vector<TableName> tables;    // default: every `from` in mappings
  std::string slot;                 // default: crmsync_<name>
  std::string publication;          // default: crmsync_<name>
  int connect_timeout_s = 10;
  int receive_timeout_s = 60;       // like wal_receiver_timeout; 0 disables
};

struct TargetConfig {
  TargetType type = TargetType::Postgres;
  std::string dsn;
  bool create_tables = false;
  int connect_timeout_s = 10;
  ReplicationRole replication_role = ReplicationRole::Replica;
};

struct SnapshotConfig {
  int parallel = 2;                 // tables/chunks copied at once, 1..64
  bool truncate_target = false;
  std::int64_t chunk_rows = 1'000'000;  // split tables larger than this into chunks
};

struct ApplyConfig {
  int max_batch_delay_ms = 50;
  // While source transactions arrive faster than one per linger_us, a batch waits up to this long
  // for more of them before it commits: fewer, larger target transactions cost the target far less
  // CPU per transaction, at the price of at most this much latency. 0: commit as soon as nothing
  // more is buffered.
  int linger_us = 1000;
  int max_batch_bytes = 16 * 1024 * 1024;
  bool compact = true;  // net effect per key within a batch, multi-row statements (sink/postgres)
};

struct LogConfig {
  LogFormat format = LogFormat::Text;
  LogLevel level = LogLevel::Info;
};

struct Lookup {
  TableName table;
  std::string match;
  std::string take;
};

struct ColumnMapping {
  std::string to;                    // target column name
  std::vector<std::string> transform;  // known transforms only (see config/README.md)
  std::optional<std::string> validate;  // known validators only
  std::optional<Lookup> lookup;
};

struct Mapping {
  TableName from;
  TableName to;                                   // default: same as from
  std::map<std::string, ColumnMapping> columns;   // source column -> mapping
  std::vector<std::string> exclude;
  std::optional<std::string> where;
  OnInvalid on_invalid = OnInvalid::DeadLetter;
};

struct PipelineConfig {
  std::string name;       // [a-z0-9_]+
  std::string state_dir;  // default: /var/lib/crmsync/<name>
  SourceConfig source;
  TargetConfig target;
  SnapshotConfig snapshot;
  ApplyConfig apply;
  LogConfig log;
  std::vector<Mapping> mappings;

  /// The mapping whose `from` is this table, or nullptr (identity: copied as-is).
  [[nodiscard]] const Mapping* mapping_for(const TableName& source_table) const;
};

}  // namespace crmsync::config
