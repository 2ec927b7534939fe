#pragma once
// A source row to a target row, for one table: the one place that decides what a row becomes,
// used by the copy and by the stream alike, so that a row gets the same result whichever phase
// carries it. Compiled once per table layout (a Relation message, a copy plan); map() is pure and
// const, safe to call from several threads.
//
// Target columns, in order: for each source column that is not excluded, its target (or the
// targets of its split), then the mapping's `add` columns by name. Per target column: the
// source value, the column's transforms in order, its `default` for a NULL, its validators.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "core/value.hpp"
#include "mapping/text.hpp"
#include "mapping/transforms.hpp"

namespace crmsync::mapping {

/// A row the mapping refuses: the column, the rule and why. `column` is the name the config
/// writes the rule under: the source column (under `columns:`; also for a split or a lookup), or
/// the added target column (under `add:`), so that it names a value of the dead letter's row.
struct Rejection {
  std::string column;
  std::string rule;
  std::string reason;
  friend bool operator==(const Rejection&, const Rejection&) = default;
};

struct MapOutcome {
  Row row;                            // in target_columns() order; empty when rejected or incomplete
  std::optional<Rejection> rejected;  // the first rule the row failed
  std::vector<std::size_t> need;      // source columns whose unchanged-TOAST value must be read first
  [[nodiscard]] bool ok() const { return !rejected && need.empty(); }
};

enum class RowOp {
  Insert,  // a new row: `add` defaults are written
  Update,  // an existing row: `add` defaults are left as the target has them (UnchangedToast)
  Old,     // an old key or old row (UPDATE, DELETE): transforms only, no validators, no defaults
};

/// Where a lookup finds the new CRM's value for a legacy one (the target database; the daemon
/// provides it, so that the mapper stays free of I/O).
class LookupSource {
 public:
  virtual ~LookupSource() = default;
  /// The `take` value of the `lookup.table` row whose `match` equals `value`; nullopt when there
  /// is none (NULL `take` is std::optional holding nullopt inside: the outer optional is "found").
  virtual Result<std::optional<std::optional<std::string>>> find(const config::Lookup& lookup,
                                                                 const std::string& value) = 0;
};

class RowMapper {
 public:
  /// `mapping` may be nullptr (identity). `source_columns`: the names of the row's values, in order.
  /// Refused (ErrorCode::ConfigInvalid) when the mapping names a source column that is not there,
  /// or two producers write one target column.
  static Result<RowMapper> compile(const config::Mapping* mapping, const std::vector<std::string>& source_columns,
                                   Encoding encoding);

  [[nodiscard]] const std::vector<std::string>& target_columns() const { return targets_; }
  /// Whether any value can differ from its source value (transforms, defaults, validators, splits,
  /// added columns). False: a plain rename, whose rows may be copied as they are.
  [[nodiscard]] bool changes_values() const { return changes_values_; }
  /// Whether a row can be refused.
  [[nodiscard]] bool can_reject() const { return can_reject_; }
  /// The target column index that source column `i` is carried to one to one (a rename, maybe
  /// with transforms), or nullopt (excluded, split, or only an input of a concat).
  [[nodiscard]] std::optional<std::size_t> carried_to(std::size_t source_index) const;

  [[nodiscard]] MapOutcome map(const Row& source, RowOp op) const;

  struct LookupColumn {
    std::size_t index = 0;  // source column
    std::string column;     // its name
    config::Lookup lookup;
  };
  [[nodiscard]] const std::vector<LookupColumn>& lookups() const { return lookups_; }
  /// Before map(): replaces the value of each lookup column in `row` by the one `source` finds
  /// (NULL and unchanged TOAST stay as they are). A value with no match is refused (rule
  /// "lookup"): never written as NULL. In an old row (RowOp::Old, which only finds the target's
  /// row) a miss leaves the value out instead (unchanged TOAST): a parent deleted before its
  /// child must not turn the child's DELETE into a dead letter.
  Result<std::optional<Rejection>> resolve_lookups(Row& row, LookupSource& source, RowOp op) const;

 private:
  enum class Kind { Source, SplitPart, Constant, Default, Concat };
  struct Producer {
    Kind kind = Kind::Source;
    std::vector<std::size_t> inputs;  // source column indexes
    std::size_t part = 0;             // SplitPart: which part
    config::Split split;              // SplitPart
    std::string value;                // Constant, Default
    std::string separator;            // Concat
    std::vector<config::Transform> transforms;
    std::optional<std::string> fallback;
    std::vector<Check> checks;
    std::string rule_column;  // what a Rejection names (see Rejection::column)
  };
  [[nodiscard]] std::optional<Rejection> produce(const Producer& p, const Row& source, RowOp op, Value& out) const;

  std::vector<std::string> targets_;
  std::vector<Producer> producers_;  // parallel to targets_
  std::vector<std::optional<std::size_t>> carried_;
  std::vector<LookupColumn> lookups_;
  Encoding encoding_ = Encoding::Utf8;
  bool changes_values_ = false;
  bool can_reject_ = false;
};

}  // namespace crmsync::mapping
