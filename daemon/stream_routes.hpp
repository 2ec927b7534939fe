#pragma once
// The relation cache of the stream: every pgoutput Relation message replaces the cached relation
// and rebuilds its route to the target. Under the identity mapping a new source column is added to
// the target (ALTER TABLE ... ADD COLUMN, inside the apply transaction, before the first row that
// carries it); a retyped or dropped column stops the pipeline with the LSN and the DDL to run.

#include <map>
#include <optional>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "core/relation.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

struct CachedRelation {
  Relation relation;
  config::TableName source;
  bool replicated = false;  // false: not a configured table (its changes are ignored)
  sink::postgres::Route route;
};

class RelationCache {
 public:
  RelationCache(const config::PipelineConfig& cfg, pq::Connection& source) : cfg_(cfg), source_(source) {}

  /// Replaces the relation and rebuilds its route (may run DDL through `applier`).
  Status update(const Relation& relation, sink::postgres::Applier& applier, Lsn at);
  [[nodiscard]] const CachedRelation* find(Oid oid) const;
  void clear() { relations_.clear(); }
  /// False once the source catalog connection has broken (the stream restarts with a new one).
  [[nodiscard]] bool source_ok() const;
  /// The source catalog connection (reads the stream cannot carry).
  pq::Connection& source() { return source_; }

 private:
  const config::PipelineConfig& cfg_;
  pq::Connection& source_;
  std::map<Oid, CachedRelation> relations_;
};

}  // namespace crmsync::daemon
