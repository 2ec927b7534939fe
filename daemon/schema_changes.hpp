#pragma once
// Following the source's schema in the stream. Each Relation message is compared with the
// previous layout of the same relation (source_tables.hpp), not with the target, so that only a
// real source change is a schema event: a column the new CRM added, or a type it widened on
// purpose, is left alone. What is safe is done on the target inside the apply transaction; what is
// not stops the stream with advice that never loses data:
//
// - a new source column: added to the target (identity mapping), with the value the source's
//   existing rows have (its fast default), or not written (a mapping without that column);
// - a renamed source column (same attnum, new name): stops until the target column is renamed
//   too or a mapping names it, never adds a second column beside the old one;
// - a retyped source column: stops with the ALTER TABLE to run, unless the target already has
//   the new type;
// - a dropped source column: the target keeps the column and its values (a warning says so);
//   new rows get its default, as native logical replication does.

#include "core/lsn.hpp"
#include "core/relation.hpp"
#include "core/result.hpp"
#include "core/table.hpp"
#include "daemon/source_tables.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

struct SchemaChange {
  pq::Connection& source;            // catalog session
  sink::postgres::Applier& applier;  // DDL runs in the open apply transaction
  Lsn at;
  SourceTable& known;  // its layout is replaced by the message's
  const Relation& relation;
  const TableInfo& target;
  bool identity_mapping = true;
};

/// Brings the target along with the message where safe; clears `route` columns the target cannot
/// take. Errors are ErrorCode::StateMismatch with the LSN and what to do.
Status follow_schema(const SchemaChange& change, sink::postgres::Route& route);

}  // namespace crmsync::daemon
