#pragma once
// The dead-letter queue: rows a mapping refused, kept on the target in crmsync.dead_letters and
// written in the same target transaction as the batch or chunk that met them, so that a letter is
// recorded exactly once across any crash (a rolled-back batch is streamed again, and its letter
// with it). Later changes to a dead-lettered key are letters too ("waits_behind"), so that they
// never overtake the row they depend on; other keys flow on.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/lsn.hpp"
#include "core/result.hpp"
#include "core/value.hpp"
#include "pq/connection.hpp"

namespace crmsync::sink::postgres {

enum class LetterOp { Insert, Update, Delete };

struct DeadLetter {
  std::string source_table;  // as source.tables names it
  std::string key;           // the source row's key, "id = 7" (the queue's order is per key)
  LetterOp op = LetterOp::Insert;
  std::optional<Lsn> lsn;                              // the source transaction's commit LSN (stream)
  std::optional<std::uint32_t> chunk;                  // the copy chunk (copy)
  std::vector<std::pair<std::string, Value>> row;      // the source row, column by column
  std::vector<std::pair<std::string, Value>> old_key;  // UPDATE/DELETE: the old key or old row
  std::string rule;                                    // the rule that refused it, or "waits_behind"
  std::string column;                                  // the target column the rule is on
  std::string reason;
};

struct StoredLetter {
  std::int64_t id = 0;
  DeadLetter letter;
  std::string created_at;
};

/// The statement that records `letter` for `pipeline` (values as literals: it runs inside the
/// caller's transaction, on a connection that may be in pipeline mode).
std::string insert_letter_sql(const std::string& pipeline, const DeadLetter& letter);

/// source table -> keys with a letter, for the queue's order.
Result<std::map<std::string, std::set<std::string>>> dead_keys(pq::Connection& conn, const std::string& pipeline);

/// Letters in queue order; `table` empty for all.
Result<std::vector<StoredLetter>> list_letters(pq::Connection& conn, const std::string& pipeline,
                                               const std::string& table);

/// Removes one letter (`id`) or all (nullopt); returns how many. Removing a letter that others of
/// its key wait behind removes those too: they could only be applied after it.
Result<std::int64_t> drop_letters(pq::Connection& conn, const std::string& pipeline, std::optional<std::int64_t> id);

std::string_view to_string(LetterOp op);

/// One column of a letter's key, as the copy and the stream both write it: `"id" = '7'`,
/// `"x" = NULL` (values as SQL literals, so that no value can read as another key or as NULL).
std::string key_part(const std::string& column, const Value& v);

}  // namespace crmsync::sink::postgres
