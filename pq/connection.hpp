#pragma once
// A thin RAII layer over libpq shared by cdc/ (the source) and sink/postgres/ (the target), so the
// two do not each grow their own copy of connection, result and quoting code.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

struct pg_conn;
struct pg_result;

namespace crmsync::pq {

enum class ReplicationMode { None, Database };

/// A run-time parameter pinned for the whole session (sent as `-c name=value` in the startup
/// packet, after any `options` of the user's string, so ours win).
struct Setting {
  std::string name;
  std::string value;
};

struct ConnectOptions {
  std::string dsn;  // secret-bearing; never logged (see describe_dsn)
  int connect_timeout_s = 10;
  ReplicationMode replication = ReplicationMode::None;
  std::string application_name = "crmsync";
  /// Session parameters that must hold whatever the server, database or role default says
  /// (datestyle, client_encoding, ...): see daemon/sessions.hpp for what each side pins.
  std::vector<Setting> settings{};
  /// Statements run right after connecting, before the connection is handed out (for settings
  /// that need a privilege, so that a refusal is an error we can explain; see `on_refused`).
  std::vector<std::string> init_sql{};
  /// Added to the error of a refused init_sql statement: what the operator should do.
  std::string init_advice{};
};

/// The rows of one statement's result. Values are in text format unless asked otherwise.
class QueryResult {
 public:
  explicit QueryResult(pg_result* res);
  [[nodiscard]] int rows() const;
  [[nodiscard]] int columns() const;
  [[nodiscard]] bool is_null(int row, int col) const;
  /// The text value; empty for NULL (check is_null when it matters).
  [[nodiscard]] std::string_view get(int row, int col) const;
  [[nodiscard]] std::optional<std::string> get_opt(int row, int col) const;
  [[nodiscard]] int column_index(const char* name) const;  // -1 when absent
  /// Rows an INSERT, UPDATE, DELETE or COPY changed (PQcmdTuples); 0 for other statements.
  [[nodiscard]] std::int64_t affected() const;
  [[nodiscard]] pg_result* raw() const { return res_.get(); }

 private:
  struct Deleter {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Deleter> res_;
};

class Connection {
 public:
  /// Connects and checks the connection is up. The error message names the server as
  /// describe_dsn() does and never contains the password.
  static Result<Connection> connect(const ConnectOptions& options);

  /// Runs one or more statements with no parameters; the last result is returned.
  Result<QueryResult> exec(std::string_view sql);
  /// Runs one statement with text parameters ($1, $2, ...); std::nullopt is SQL NULL.
  Result<QueryResult> exec_params(std::string_view sql, const std::vector<std::optional<std::string>>& params);

  [[nodiscard]] int server_version() const;  // e.g. 150018
  /// The server process serving this connection (pg_stat_activity.pid).
  [[nodiscard]] int backend_pid() const;
  /// The value libpq uses for a connection keyword (e.g. "keepalives_idle"), if set.
  [[nodiscard]] std::optional<std::string> option(std::string_view keyword) const;
  /// Whether the connection is still up (false once the server has gone away).
  [[nodiscard]] bool ok() const;
  [[nodiscard]] const std::string& description() const { return description_; }
  [[nodiscard]] pg_conn* raw() const { return conn_.get(); }

 private:
  struct Deleter {
    void operator()(pg_conn* c) const;
  };
  Connection(pg_conn* conn, std::string description);
  Result<QueryResult> check(QueryResult res);
  std::unique_ptr<pg_conn, Deleter> conn_;
  std::string description_;
};

/// A server error for an error line: the primary message and the table, column and constraint it
/// names, never DETAIL or CONTEXT (a failed COPY or INSERT puts the row's values there: customer
/// names and emails do not belong in error logs); for a data exception (class 22) the quoted value
/// at the end of the message is left out too. The full text goes to the debug log.
std::string server_error(const pg_result* res);

/// A libpq message as one tidy line: trailing newline removed, inner newlines folded to spaces.
std::string one_line(const char* message);

/// Whether a server error is worth retrying: connection exceptions (08), operator intervention
/// such as an administrator shutdown or a server starting up (57), insufficient resources (53),
/// serialization failures and deadlocks (40001, 40P01). Everything else is permanent.
bool retryable_sqlstate(std::string_view sqlstate);

/// "user@host:port/dbname" for logs and messages: never the password, never the full string.
std::string describe_dsn(std::string_view dsn);

/// The value of one keyword in a connection string (e.g. "user"), if it is set and the string
/// parses. Never use it to log a value that may be secret.
std::optional<std::string> dsn_keyword(std::string_view dsn, std::string_view keyword);

/// SQL identifier quoting ("a""b"), safe for any name including mixed case, spaces, unicode.
std::string quote_ident(std::string_view name);
/// SQL string literal ('it''s'; E'a\\b' when the value has a backslash, whatever the
/// server's standard_conforming_strings).
std::string quote_literal(std::string_view value);
/// "schema"."table"
std::string quote_qualified(std::string_view schema, std::string_view table);

}  // namespace crmsync::pq
