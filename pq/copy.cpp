#include "pq/copy.hpp"

#include <libpq-fe.h>

#include <cstdlib>

#include <fmt/format.h>

namespace crmsync::pq {
namespace {

// Drains the results that follow a COPY; the last non-OK one decides.
Status finish_results(Connection& conn, std::int64_t* rows) {
  Status status;
  while (PGresult* r = PQgetResult(conn.raw())) {
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && status.ok()) {
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      const bool lost = PQstatus(conn.raw()) != CONNECTION_OK || (state != nullptr && retryable_sqlstate(state));
      status = Error{lost ? ErrorCode::ConnectionFailed : ErrorCode::QueryFailed,
                     fmt::format("COPY failed on {}: {} (SQLSTATE {})", conn.description(),
                                 server_error(r), state != nullptr ? state : "?"),
                     lost ? Retry::Yes : Retry::No};
    } else if (st == PGRES_COMMAND_OK && rows != nullptr) {
      *rows = std::strtoll(PQcmdTuples(r), nullptr, 10);
    }
    PQclear(r);
  }
  return status;
}

Error connection_error(Connection& conn, const char* what) {
  const bool lost = PQstatus(conn.raw()) != CONNECTION_OK;
  return Error{lost ? ErrorCode::ConnectionFailed : ErrorCode::QueryFailed,
               fmt::format("{} on {}: {}", what, conn.description(), one_line(PQerrorMessage(conn.raw()))),
               lost ? Retry::Yes : Retry::No};
}

}  // namespace

void CopyChunk::Free::operator()(char* p) const { PQfreemem(p); }

Result<std::optional<CopyChunk>> copy_out_next(Connection& conn) {
  char* buf = nullptr;
  const int n = PQgetCopyData(conn.raw(), &buf, 0);
  if (n > 0) {
    return std::optional<CopyChunk>{CopyChunk(buf, n)};
  }
  if (n == -1) {
    auto done = finish_results(conn, nullptr);
    if (!done) {
      return done.take_error();
    }
    return std::optional<CopyChunk>{};
  }
  return connection_error(conn, "reading COPY data");
}

Status copy_in_put(Connection& conn, std::string_view data) {
  if (PQputCopyData(conn.raw(), data.data(), static_cast<int>(data.size())) != 1) {
    return connection_error(conn, "sending COPY data");
  }
  return {};
}

Result<std::int64_t> copy_in_end(Connection& conn) {
  if (PQputCopyEnd(conn.raw(), nullptr) != 1) {
    return connection_error(conn, "ending COPY");
  }
  std::int64_t rows = 0;
  auto done = finish_results(conn, &rows);
  if (!done) {
    return done.take_error();
  }
  return rows;
}

void copy_in_abort(Connection& conn, const char* reason) {
  PQputCopyEnd(conn.raw(), reason);
  while (PGresult* r = PQgetResult(conn.raw())) {
    PQclear(r);
  }
}

}  // namespace crmsync::pq
