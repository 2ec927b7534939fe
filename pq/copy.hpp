#pragma once
// COPY streaming over libpq: the copy phase moves rows as COPY data, never as statements.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::pq {

/// One COPY data message from the server (one row in COPY OUT), owned.
class CopyChunk {
 public:
  CopyChunk(char* data, int size) : data_(data), size_(size) {}
  [[nodiscard]] std::string_view view() const { return {data_.get(), static_cast<std::size_t>(size_)}; }

 private:
  struct Free {
    void operator()(char* p) const;
  };
  std::unique_ptr<char, Free> data_;
  int size_;
};

/// After exec("COPY ... TO STDOUT"): the next row, or nullopt once the COPY has finished
/// successfully. Blocks until data arrives.
Result<std::optional<CopyChunk>> copy_out_next(Connection& conn);

/// After exec("COPY ... FROM STDIN"): queues data (libpq buffers and flushes as needed).
Status copy_in_put(Connection& conn, std::string_view data);
/// Ends COPY FROM STDIN; returns the number of rows the server stored.
Result<std::int64_t> copy_in_end(Connection& conn);
/// Aborts COPY FROM STDIN with a message (the server rolls back the statement).
void copy_in_abort(Connection& conn, const char* reason);

}  // namespace crmsync::pq
