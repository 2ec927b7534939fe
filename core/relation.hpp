#pragma once
// A source relation as the replication stream describes it (pgoutput Relation message). Every
// Relation message replaces the cached one: schema changes mid-stream are normal.

#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.hpp"

namespace crmsync {

struct RelationColumn {
  std::string name;
  Oid type;
  std::int32_t type_modifier = -1;
  bool key = false;  // part of the replica identity
  friend bool operator==(const RelationColumn&, const RelationColumn&) = default;
};

/// pgoutput replica identity setting: 'd' default, 'n' nothing, 'f' full, 'i' index.
enum class RelReplIdent : char { Default = 'd', Nothing = 'n', Full = 'f', Index = 'i' };

struct Relation {
  Oid oid;
  std::string schema;
  std::string name;
  RelReplIdent replica_identity = RelReplIdent::Default;
  std::vector<RelationColumn> columns;
  friend bool operator==(const Relation&, const Relation&) = default;
};

}  // namespace crmsync
