#pragma once
// What the pipeline knows about each source table beyond the config: the relation (OID) it
// copied under each configured name, the names that relation had before, and the column layout the
// target was last brought to. The stream routes changes by OID through it, so a rename is seen as
// a rename (never as an unknown table whose changes could be dropped), and it diffs each Relation
// message against the previous layout, so only a real source change is a schema event (a column
// the new CRM added or widened on its own is not).
//
// Kept as one JSON document in the checkpoint (meta key "source_tables"); main thread only.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/ids.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

struct LayoutColumn {
  std::string name;
  std::string type;  // format_type()
  int attnum = 0;    // pg_attribute.attnum: survives a RENAME COLUMN, not a DROP + ADD
  friend bool operator==(const LayoutColumn&, const LayoutColumn&) = default;
};

struct SourceTable {
  Oid oid;
  config::TableName name;                 // as source.tables names it
  std::vector<std::string> former_names;  // qualified names the relation had earlier in the stream
  std::vector<LayoutColumn> columns;      // replicated columns (generated ones are never sent)
  [[nodiscard]] const LayoutColumn* column(const std::string& column_name) const;
  /// Whether `qualified` is this relation's configured name or one it had before.
  [[nodiscard]] bool known_as(const std::string& qualified) const;
};

class SourceTables {
 public:
  static Result<SourceTables> load(const checkpoint::Store& store);
  Status save(checkpoint::Store& store) const;

  [[nodiscard]] const SourceTable* by_oid(Oid oid) const;
  SourceTable* by_oid(Oid oid);
  [[nodiscard]] const SourceTable* by_name(const config::TableName& name) const;
  [[nodiscard]] bool empty() const { return tables_.empty(); }
  void put(SourceTable table) { tables_[table.oid] = std::move(table); }

 private:
  std::map<Oid, SourceTable> tables_;
};

/// The replicated columns of relation `oid` as the source catalog has them now.
Result<std::vector<LayoutColumn>> read_layout(pq::Connection& source, Oid oid);

/// At every start of `run`: compares source.tables with the record. An empty record (first run,
/// or a checkpoint of an older version) is written from the source catalog. A configured table
/// that is the relation recorded under another name is a rename the config followed: accepted and
/// recorded. Refused with what to do (ErrorCode::StateMismatch): a configured name that is now a
/// different relation than the one copied under it (dropped and created again, or another table
/// renamed to it), and a table added to source.tables after the copy began.
Result<SourceTables> reconcile_source_tables(const config::PipelineConfig& cfg, pq::Connection& source,
                                             checkpoint::Store& store);

/// The same comparison on `recorded` in memory (what `crmsync check` reports, without writing):
/// whether it changed the record, or the refusal.
Result<bool> follow_config(const config::PipelineConfig& cfg, pq::Connection& source, SourceTables& recorded);

}  // namespace crmsync::daemon
