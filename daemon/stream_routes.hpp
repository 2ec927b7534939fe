#pragma once
// The relation cache of the stream: every pgoutput Relation message replaces the cached relation
// and rebuilds its route to the target. Relations are routed by OID through the source table
// record (source_tables.hpp): a renamed table, a table re-created under a copied name and one
// crmsync never copied stop the stream with what to do. The message is diffed against the
// previous layout of the same relation (schema_changes.hpp) and the layout is recorded.

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "core/relation.hpp"
#include "core/result.hpp"
#include "core/table.hpp"
#include "daemon/source_tables.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

struct CachedRelation {
  Relation relation;
  config::TableName source;  // as source.tables names it now
  std::string copied_as;     // the name its chunks were recorded under (the chunk filter's key)
  bool replicated = true;
  // With a mapper (the mapping changes values), `route` names the mapper's target columns and
  // every row is mapped before it is written (mapped_writes.hpp); without, `route` names a target
  // column per source column.
  sink::postgres::Route route;
  std::shared_ptr<const mapping::RowMapper> mapper;
  config::OnInvalid on_invalid = config::OnInvalid::DeadLetter;
};

class RelationCache {
 public:
  RelationCache(const config::PipelineConfig& cfg, pq::Connection& source, SourceTables& tables,
                checkpoint::Store& store)
      : cfg_(cfg), source_(source), tables_(tables), store_(store) {}

  /// Replaces the relation and rebuilds its route (may run DDL through `applier`).
  Status update(const Relation& relation, sink::postgres::Applier& applier, Lsn at);
  [[nodiscard]] const CachedRelation* find(Oid oid) const;
  void clear() { relations_.clear(); }
  /// False once the source catalog connection has broken (the stream restarts with a new one).
  [[nodiscard]] bool source_ok() const;
  /// The source catalog connection (reads the stream cannot carry).
  pq::Connection& source() { return source_; }

 private:
  Status unknown_relation(const Relation& relation, Lsn at);
  /// Replaces `entry.route` (one target column per source column) with one over the mapper's
  /// target columns, when the mapping changes values.
  Status map_route(CachedRelation& entry, const config::Mapping& mapping, const TableInfo& target,
                   sink::postgres::Applier& applier, Lsn at);

  const config::PipelineConfig& cfg_;
  pq::Connection& source_;
  SourceTables& tables_;
  checkpoint::Store& store_;
  std::map<Oid, CachedRelation> relations_;
  std::optional<mapping::Encoding> encoding_;  // the target session's client_encoding, read once
};

}  // namespace crmsync::daemon
