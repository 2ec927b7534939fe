#pragma once
// Lookups (a mapping's `lookup:`) resolved against the target: a legacy foreign key becomes the
// new CRM's id of the parent row, found by `SELECT take FROM table WHERE match = $1` (in the match
// column's type for text and integer columns, so that its unique index answers). Found values
// are cached (an id, once found for a legacy key, does not change while only rows are added);
// a miss is asked again each time, since the parent may arrive later. The caller clears the cache
// when what it found might be undone: a rolled-back batch (its parents were never committed) or an
// UPDATE, DELETE or TRUNCATE of a table lookups read.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "mapping/row_mapper.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

class TargetLookups final : public mapping::LookupSource {
 public:
  /// `connection` gives the session to ask on (for the stream: the applier's, inside the open
  /// batch, so parents written earlier in the same batch are found).
  explicit TargetLookups(std::function<Result<pq::Connection*>()> connection) : connection_(std::move(connection)) {}

  Result<std::optional<std::optional<std::string>>> find(const config::Lookup& lookup,
                                                         const std::string& value) override;
  void clear() { cache_.clear(); }
  [[nodiscard]] std::size_t queries() const { return queries_; }

 private:
  struct Match {
    enum class Kind { Text, Integer, AsText };  // compared as is, as that integer type, as text
    Kind kind = Kind::AsText;
    std::string type;
  };
  Result<Match> match_of(pq::Connection& conn, const config::Lookup& lookup);

  std::function<Result<pq::Connection*>()> connection_;
  std::map<std::pair<std::string, std::string>, Match> matches_;  // (table, match column) -> its type
  // (table, match, take, value) -> take value (nullopt: NULL)
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::optional<std::string>> cache_;
  std::size_t queries_ = 0;
};

}  // namespace crmsync::daemon
