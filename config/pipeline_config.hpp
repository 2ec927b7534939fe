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
  std::string dsn;                // secret-bearing: never log it, use redact_dsn()
  std::vector<TableName> tables;  // default: every `from` in mappings
  std::string slot;               // default: crmsync_<name>
  std::string publication;        // default: crmsync_<name>
  int connect_timeout_s = 10;
  int receive_timeout_s = 60;  // like wal_receiver_timeout; 0 disables
  // Slot safety: a warning (log, metric, /readyz detail) once the slot retains more WAL than this
  // on the source; 0: only wal_status (unreserved, lost) is watched.
  std::int64_t max_retained_wal_bytes = 8LL << 30;
  // A non-transactional logical message (pg_logical_emit_message) this often, so that lag is
  // measured end to end on an idle source too; 0: off (lag then counts only what has arrived).
  int heartbeat_s = 10;
};

struct TargetConfig {
  TargetType type = TargetType::Postgres;
  std::string dsn;
  bool create_tables = false;
  int connect_timeout_s = 10;
  ReplicationRole replication_role = ReplicationRole::Replica;
};

struct SnapshotConfig {
  int parallel = 2;  // tables/chunks copied at once, 1..64
  bool truncate_target = false;
  std::int64_t chunk_rows = 1'000'000;  // split tables larger than this into chunks
};

// How the apply session commits on the target (daemon/flush_gate.hpp). Off, as PostgreSQL's own
// apply worker does: a commit does not wait for its WAL flush, and a position is confirmed to the
// source (and written to the checkpoint) only once the target's WAL flush covers it.
enum class SynchronousCommit { Off, On };

struct ApplyConfig {
  int max_batch_delay_ms = 50;
  // While source transactions arrive faster than one per linger_us, a batch waits up to this long
  // for more of them before it commits: fewer, larger target transactions cost the target far less
  // CPU per transaction, at the price of at most this much latency. 0: commit as soon as nothing
  // more is buffered.
  int linger_us = 1000;
  int max_batch_bytes = 16 * 1024 * 1024;
  bool compact = true;  // net effect per key within a batch, multi-row statements (sink/postgres)
  SynchronousCommit synchronous_commit = SynchronousCommit::Off;
};

// `crmsync cutover` (daemon/cutover.hpp). Empty fence_sql: the default fence (the source database
// read-only for new transactions, other client sessions terminated); empty unfence_sql: its undo.
struct CutoverConfig {
  std::string fence_sql;
  std::string unfence_sql;
  std::int64_t sequence_headroom = 1000;  // target sequences are set this far past the highest value
  // Target sequence (schema.name, as pg_get_serial_sequence prints it) -> the source sequence whose
  // value it must pass, or "none" to leave it alone. Overrides the detected pairing, and adds
  // sequences that back no column of a mapped table.
  std::map<std::string, std::string> sequences;
  int marker_timeout_s = 30;  // the marker must be applied within this long
  int write_wait_s = 30;      // writes begun before the fence must end within this long
};

// The observability endpoint (daemon/http_endpoint.*): /healthz, /readyz, /metrics, /status.
struct HttpConfig {
  std::string listen = "127.0.0.1:9187";  // host:port; "off": no endpoint
  int ready_max_lag_s = 60;               // /readyz fails beyond this lag
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

// One step of a column's transform chain (config/README.md lists what each does).
enum class TransformKind { Trim, Lower, Upper, NullIfEmpty, StripNonDigits, E164, Map, Cast, Truncate, DateFormat };
struct Transform {
  TransformKind kind = TransformKind::Trim;
  // e164: the default country (ISO 3166 alpha-2, upper case); cast: the type; date_format: the
  // format of the legacy text.
  std::string argument;
  std::int64_t length = 0;                    // truncate: characters kept
  std::map<std::string, std::string> values;  // map: legacy value -> new value
  std::optional<std::string> fallback;        // map: for a value not in `values`; none: invalid
  static Transform of(TransformKind k) {
    Transform t;
    t.kind = k;
    return t;
  }
  friend bool operator==(const Transform&, const Transform&) = default;
};

// A check on the value a column's transforms produced. NULL passes every one but not_null.
enum class ValidatorKind { NotNull, Email, Phone, Uuid, Regex, MaxLength, OneOf, Range };
struct Validator {
  ValidatorKind kind = ValidatorKind::NotNull;
  std::string pattern;                  // regex (ECMAScript, must match the whole value)
  std::int64_t length = 0;              // max_length, in characters
  std::vector<std::string> values;      // one_of
  std::optional<std::string> min, max;  // range: decimal numbers, inclusive
  static Validator of(ValidatorKind k) {
    Validator v;
    v.kind = k;
    return v;
  }
  friend bool operator==(const Validator&, const Validator&) = default;
};

// One source column into several target columns: the value is cut at the first (or the last)
// separator; with more parts than targets the last target gets the rest, with fewer the missing
// ones are NULL.
struct Split {
  std::string separator = " ";
  std::vector<std::string> into;
  bool at_last = false;
};

struct ColumnMapping {
  std::string to;                       // target column name (unused with split)
  std::vector<Transform> transform;     // in order
  std::vector<Validator> validate;      // after the transforms
  std::optional<std::string> fallback;  // `default`: written instead of NULL, after the transforms
  std::optional<Lookup> lookup;
  std::optional<Split> split;
};

// A target column no single source column fills.
enum class AddedKind {
  Constant,  // the value on every insert and update (e.g. the legacy system a row came from)
  Default,   // the value on insert only; an update leaves what the new CRM made of it
  Concat,    // source columns joined by a separator, NULLs left out (as concat_ws)
};
struct AddedColumn {
  AddedKind kind = AddedKind::Constant;
  std::string value;                 // constant, default
  std::vector<std::string> columns;  // concat: source columns
  std::string separator = " ";       // concat
  std::vector<Transform> transform;  // concat: applied to the joined value
  std::vector<Validator> validate;
};

struct Mapping {
  TableName from;
  TableName to;                                  // default: same as from
  std::map<std::string, ColumnMapping> columns;  // source column -> mapping
  std::vector<std::string> exclude;
  std::map<std::string, AddedColumn> add;  // target column -> how it is filled
  std::optional<std::string> where;
  OnInvalid on_invalid = OnInvalid::DeadLetter;
  // Target columns that updates and deletes locate rows by (empty: the source's replica identity,
  // as mapped). With a `constant` among them, the pipeline owns only the rows carrying it: its
  // copy, re-copy and TRUNCATE empty those rows, never the table (consolidation).
  std::vector<std::string> key;
};

/// Source table -> its mapping's `where` (only tables that have one).
using RowFilters = std::map<TableName, std::string>;

struct PipelineConfig {
  std::string name;       // [a-z0-9_]+
  std::string state_dir;  // default: /var/lib/crmsync/<name>
  SourceConfig source;
  TargetConfig target;
  SnapshotConfig snapshot;
  ApplyConfig apply;
  CutoverConfig cutover;
  HttpConfig http;
  LogConfig log;
  std::vector<Mapping> mappings;

  /// The mapping whose `from` is this table, or nullptr (identity: copied as-is).
  [[nodiscard]] const Mapping* mapping_for(const TableName& source_table) const;
  /// The `where` of every mapping of a table in source.tables.
  [[nodiscard]] RowFilters row_filters() const;
};

}  // namespace crmsync::config
