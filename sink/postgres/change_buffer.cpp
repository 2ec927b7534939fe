#include "sink/postgres/change_buffer.hpp"

#include <charconv>

namespace crmsync::sink::postgres {
namespace {

std::size_t row_bytes(const Row& row) {
  std::size_t n = sizeof(NetChange);
  for (const auto& v : row) n += sizeof(Value) + v.text.size();
  return n;
}

// `later`'s values, with its unchanged-TOAST columns taken from `earlier` (which may be unchanged
// TOAST too: then the column stays out of the UPDATE).
Row merge(const Row& earlier, const Row& later) {
  Row out = later;
  for (std::size_t i = 0; i < out.size() && i < earlier.size(); ++i) {
    if (out[i].is_unchanged_toast()) out[i] = earlier[i];
  }
  return out;
}

bool has_unchanged_toast(const Row& row) {
  for (const auto& v : row) {
    if (v.is_unchanged_toast()) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> key_of(const Route& route, const Row& row) {
  if (route.key.empty()) return std::nullopt;
  std::string key;
  for (auto i : route.key) {
    if (i >= row.size() || row[i].kind != ValueKind::Text) return std::nullopt;
    // Length-prefixed, so ("a,b", "c") and ("a", "b,c") differ.
    char len[24];
    const auto end = std::to_chars(len, len + sizeof len, row[i].text.size()).ptr;
    key.append(len, end);
    key.push_back(':');
    key += row[i].text;
  }
  return key;
}

ChangeBuffer::Table& ChangeBuffer::table(const Route& route) {
  if (auto it = by_route_.find(route.id); it != by_route_.end()) return tables_[it->second];
  by_route_.emplace(route.id, tables_.size());
  tables_.push_back(Table{TableChanges{route, {}}, {}});
  return tables_.back();
}

NetChange* ChangeBuffer::find(Table& t, const std::string& key) {
  auto it = t.index.find(key);
  return it == t.index.end() ? nullptr : &t.data.changes[it->second];
}

void ChangeBuffer::add(Table& t, std::string key, NetKind kind, const Row& row) {
  bytes_ += row_bytes(row) + key.size() + 64;
  t.index.emplace(std::move(key), t.data.changes.size());
  t.data.changes.push_back(NetChange{kind, row});
}

bool ChangeBuffer::insert(const Route& route, const Row& row) {
  auto key = key_of(route, row);
  if (!key || has_unchanged_toast(row)) return false;
  auto& t = table(route);
  auto* prev = find(t, *key);
  if (prev == nullptr) {
    add(t, std::move(*key), NetKind::Insert, row);
    return true;
  }
  switch (prev->kind) {
    case NetKind::Delete: prev->kind = NetKind::Replace; break;
    case NetKind::Gone: prev->kind = NetKind::Insert; break;
    default: return false;  // an insert over a live row: let the target say what it thinks
  }
  bytes_ += row_bytes(row);
  prev->row = row;
  ++merged_;
  return true;
}

bool ChangeBuffer::update(const Route& route, const Row& new_row) {
  auto key = key_of(route, new_row);
  if (!key) return false;
  auto& t = table(route);
  auto* prev = find(t, *key);
  if (prev == nullptr) {
    add(t, std::move(*key), NetKind::Update, new_row);
    return true;
  }
  if (prev->kind == NetKind::Delete || prev->kind == NetKind::Gone) return false;  // no row to update
  bytes_ += row_bytes(new_row);
  prev->row = merge(prev->row, new_row);
  ++merged_;
  return true;
}

bool ChangeBuffer::remove(const Route& route, const Row& old_row) {
  auto key = key_of(route, old_row);
  if (!key) return false;
  auto& t = table(route);
  auto* prev = find(t, *key);
  if (prev == nullptr) {
    add(t, std::move(*key), NetKind::Delete, old_row);
    return true;
  }
  switch (prev->kind) {
    case NetKind::Insert: prev->kind = NetKind::Gone; break;  // never existed before the batch
    case NetKind::Update:
    case NetKind::Replace:
      prev->kind = NetKind::Delete;
      prev->row = old_row;
      break;
    case NetKind::Delete:
    case NetKind::Gone: return false;  // no row to delete
  }
  ++merged_;
  return true;
}

std::vector<TableChanges> ChangeBuffer::take() {
  std::vector<TableChanges> out;
  out.reserve(tables_.size());
  for (auto& t : tables_) out.push_back(std::move(t.data));
  clear();
  return out;
}

void ChangeBuffer::clear() {
  tables_.clear();
  by_route_.clear();
  bytes_ = 0;
}

}  // namespace crmsync::sink::postgres
