#include "pq/connection.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <array>

namespace crmsync::pq {
namespace {

// A connection failure can be transient (server restarting, network); a bad password or a missing
// database is not.
Error connect_error(const std::string& description, const char* message) {
  // What no retry cures: a refused password or missing role/database, an hba rule. (The server
  // sends no SQLSTATE to libpq's connect path before PG 16, so this reads its English text.)
  const auto text = one_line(message);
  const bool permanent = text.find("authentication failed") != std::string::npos ||
                         text.find("no pg_hba.conf entry") != std::string::npos ||
                         (text.find("does not exist") != std::string::npos && text.find("FATAL") != std::string::npos);
  return Error{ErrorCode::ConnectionFailed, fmt::format("cannot connect to {}: {}", description, text),
               permanent ? Retry::No : Retry::Yes};
}

// Server NOTICEs ("relation already exists, skipping") are chatter: debug. WARNINGs are kept.
void on_notice(void* /*arg*/, const PGresult* res) {
  const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  const auto text = one_line(PQresultErrorMessage(res));
  if (severity != nullptr && std::string_view(severity) == "WARNING") {
    spdlog::warn("server: {}", text);
  } else {
    spdlog::debug("server: {}", text);
  }
}

// The value of `keyword` in a libpq option array, which it frees.
std::optional<std::string> take_option(PQconninfoOption* opts, std::string_view keyword) {
  if (opts == nullptr) return std::nullopt;
  std::optional<std::string> out;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && keyword == o->keyword) out = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

}  // namespace

void QueryResult::Deleter::operator()(pg_result* r) const {
  PQclear(r);
}
void Connection::Deleter::operator()(pg_conn* c) const {
  PQfinish(c);
}

QueryResult::QueryResult(pg_result* res) : res_(res) {}
int QueryResult::rows() const {
  return PQntuples(res_.get());
}
int QueryResult::columns() const {
  return PQnfields(res_.get());
}
bool QueryResult::is_null(int row, int col) const {
  return PQgetisnull(res_.get(), row, col) != 0;
}
std::string_view QueryResult::get(int row, int col) const {
  return {PQgetvalue(res_.get(), row, col), static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
}
std::optional<std::string> QueryResult::get_opt(int row, int col) const {
  if (is_null(row, col)) {
    return std::nullopt;
  }
  return std::string(get(row, col));
}
int QueryResult::column_index(const char* name) const {
  return PQfnumber(res_.get(), name);
}
std::int64_t QueryResult::affected() const {
  return std::strtoll(PQcmdTuples(res_.get()), nullptr, 10);
}

Connection::Connection(pg_conn* conn, std::string description) : conn_(conn), description_(std::move(description)) {}

namespace {

// The user's own `options` (from the connection string) come first, so that pinned settings,
// appended after them, win. Backslashes and spaces in values are escaped as libpq requires.
std::string startup_options(std::string_view dsn, const std::vector<Setting>& settings) {
  std::string out = dsn_keyword(dsn, "options").value_or("");
  for (const auto& s : settings) {
    if (s.name == "client_encoding") continue;  // its own keyword (see connect)
    if (!out.empty()) out += ' ';
    out += "-c ";
    for (char c : s.name + "=" + s.value) {
      if (c == ' ' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

// Keepalives so that a peer that vanishes without a RST (a host powered off, a dropped route)
// while we wait for its answer is noticed in about a minute instead of the kernel's two hours.
// No tcp_user_timeout: it also ends a connection whose peer stops reading for that long (a target
// statement waiting on a lock while we pipeline behind it), which is no failure. Placed before the
// user's string, so a DSN that sets them (or tcp_user_timeout) wins.
constexpr std::array<std::pair<const char*, const char*>, 4> kKeepalives{
    {{"keepalives", "1"}, {"keepalives_idle", "30"}, {"keepalives_interval", "10"}, {"keepalives_count", "3"}}};

}  // namespace

Result<Connection> Connection::connect(const ConnectOptions& options) {
  const auto description = describe_dsn(options.dsn);
  const auto timeout = std::to_string(options.connect_timeout_s);
  if (options.dsn.find('=') != std::string::npos || options.dsn.starts_with("postgres")) {
    // A string libpq cannot parse is refused before it is used, without echoing libpq's message:
    // that quotes the text around the error, which is usually the password. (A bare word is a
    // database name, which libpq takes as it is.)
    char* err = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.dsn.c_str(), &err);
    PQfreemem(err);
    if (parsed == nullptr) {
      return Error{ErrorCode::ConfigInvalid,
                   "the connection string cannot be parsed (a value with spaces or quotes must be written in single "
                   "quotes, with \\' and \\\\ inside; a ${VAR} value is quoted by crmsync)",
                   Retry::No};
    }
    PQconninfoFree(parsed);
  }
  const auto startup = startup_options(options.dsn, options.settings);
  std::string encoding;
  for (const auto& s : options.settings) {
    if (s.name == "client_encoding") encoding = s.value;
  }
  // The user's string is expanded first ("dbname" with expand_dbname); the keywords after it
  // override, so our timeout, replication mode and pinned settings win while application_name
  // and the keepalives stay overridable.
  std::vector<const char*> keys{"application_name"};
  std::vector<const char*> values{options.application_name.c_str()};
  for (const auto& [k, v] : kKeepalives) {
    keys.push_back(k);
    values.push_back(v);
  }
  keys.insert(keys.end(), {"dbname", "connect_timeout"});
  values.insert(values.end(), {options.dsn.c_str(), timeout.c_str()});
  if (options.replication == ReplicationMode::Database) {
    keys.push_back("replication");
    values.push_back("database");
  }
  if (!encoding.empty()) {
    keys.push_back("client_encoding");
    values.push_back(encoding.c_str());
  }
  if (!startup.empty()) {
    keys.push_back("options");
    values.push_back(startup.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* raw = PQconnectdbParams(keys.data(), values.data(), 1);
  if (raw == nullptr) {
    return Error{ErrorCode::ConnectionFailed, fmt::format("cannot connect to {}: out of memory", description)};
  }
  Connection conn(raw, description);
  if (PQstatus(raw) != CONNECTION_OK) {
    return connect_error(description, PQerrorMessage(raw));
  }
  PQsetNoticeReceiver(raw, on_notice, nullptr);
  for (const auto& sql : options.init_sql) {
    auto done = conn.exec(sql);
    if (done) continue;
    auto e = done.take_error();
    if (!options.init_advice.empty()) e.message += ": " + options.init_advice;
    return e;
  }
  return conn;
}

Result<QueryResult> Connection::exec(std::string_view sql) {
  const std::string text(sql);
  QueryResult res(PQexec(conn_.get(), text.c_str()));
  return check(std::move(res));
}

Result<QueryResult> Connection::exec_params(std::string_view sql,
                                            const std::vector<std::optional<std::string>>& params) {
  const std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p ? p->c_str() : nullptr);
  }
  QueryResult res(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
  return check(std::move(res));
}

Result<QueryResult> Connection::check(QueryResult res) {
  const auto* raw = res.raw();
  const auto status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_OUT || status == PGRES_COPY_IN ||
      status == PGRES_COPY_BOTH) {
    return res;
  }
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return Error{ErrorCode::ConnectionFailed,
                 fmt::format("connection to {} lost: {}", description_, one_line(PQerrorMessage(conn_.get()))),
                 Retry::Yes};
  }
  const char* sqlstate = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  const auto message = raw != nullptr ? server_error(raw) : one_line(PQerrorMessage(conn_.get()));
  const bool retry = sqlstate != nullptr && retryable_sqlstate(sqlstate);
  return Error{retry ? ErrorCode::ConnectionFailed : ErrorCode::QueryFailed,
               fmt::format("{} (SQLSTATE {}) on {}", message, sqlstate != nullptr ? sqlstate : "?", description_),
               retry ? Retry::Yes : Retry::No};
}

int Connection::server_version() const {
  return PQserverVersion(conn_.get());
}
int Connection::backend_pid() const {
  return PQbackendPID(conn_.get());
}
std::optional<std::string> Connection::option(std::string_view keyword) const {
  return take_option(PQconninfo(conn_.get()), keyword);
}

bool Connection::ok() const {
  return PQstatus(conn_.get()) == CONNECTION_OK;
}

std::string one_line(const char* message) {
  // libpq messages end with a newline and sometimes span lines.
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (auto& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

std::string server_error(const pg_result* res) {
  if (res == nullptr) return "no result";
  const auto field = [res](int code) -> std::string_view {
    const char* v = PQresultErrorField(res, code);
    return v != nullptr ? v : "";
  };
  std::string primary(field(PG_DIAG_MESSAGE_PRIMARY));
  if (primary.empty()) return one_line(PQresultErrorMessage(res));
  spdlog::debug("server error in full: {}", one_line(PQresultErrorMessage(res)));
  if (field(PG_DIAG_SQLSTATE).starts_with("22")) {
    if (const auto at = primary.find(": \""); at != std::string::npos) primary.resize(at);
  }
  std::string out = one_line(primary.c_str());
  std::string where;
  if (const auto t = field(PG_DIAG_TABLE_NAME); !t.empty()) {
    where = fmt::format("table {}.{}", field(PG_DIAG_SCHEMA_NAME), t);
  }
  if (const auto c = field(PG_DIAG_COLUMN_NAME); !c.empty()) where += fmt::format(", column {}", c);
  if (const auto c = field(PG_DIAG_CONSTRAINT_NAME); !c.empty()) where += fmt::format(", constraint {}", c);
  if (!where.empty()) out += " [" + where + "]";
  return out;
}

bool retryable_sqlstate(std::string_view s) {
  return s.starts_with("08") || s.starts_with("57") || s.starts_with("53") || s == "40001" || s == "40P01";
}

std::string describe_dsn(std::string_view dsn) {
  char* err = nullptr;
  const std::string text(dsn);
  PQconninfoOption* opts = PQconninfoParse(text.c_str(), &err);
  if (opts == nullptr) {
    // Unparseable: say so without echoing it (it may hold a password).
    PQfreemem(err);
    return "<unparseable connection string>";
  }
  std::string user;
  std::string host;
  std::string port;
  std::string dbname;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) {
      continue;
    }
    const std::string_view key = o->keyword;
    if (key == "user")
      user = o->val;
    else if (key == "host")
      host = o->val;
    else if (key == "hostaddr" && host.empty())
      host = o->val;
    else if (key == "port")
      port = o->val;
    else if (key == "dbname")
      dbname = o->val;
  }
  PQconninfoFree(opts);
  std::string out;
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  if (!dbname.empty()) out += "/" + dbname;
  return out;
}

std::optional<std::string> dsn_keyword(std::string_view dsn, std::string_view keyword) {
  char* err = nullptr;
  const std::string text(dsn);
  PQconninfoOption* opts = PQconninfoParse(text.c_str(), &err);
  PQfreemem(err);
  return take_option(opts, keyword);
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_literal(std::string_view value) {
  const bool has_backslash = value.find('\\') != std::string_view::npos;
  std::string out = has_backslash ? "E'" : "'";
  for (char c : value) {
    if (c == '\'' || (has_backslash && c == '\\')) out += c;
    out += c;
  }
  out += '\'';
  return out;
}

std::string quote_qualified(std::string_view schema, std::string_view table) {
  return quote_ident(schema) + "." + quote_ident(table);
}

}  // namespace crmsync::pq
