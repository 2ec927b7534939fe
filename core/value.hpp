#pragma once
// Row values as logical replication delivers them: SQL NULL, "unchanged TOAST" (the column was not
// modified and its out-of-line value was not sent), or the value's text form. Binary wire format
// is never requested, so text is the only payload kind.

#include <string>
#include <utility>
#include <vector>

namespace crmsync {

enum class ValueKind { Null, UnchangedToast, Text };

struct Value {
  ValueKind kind = ValueKind::Null;
  std::string text;  // only for Text

  static Value null() { return {}; }
  static Value unchanged_toast() { return {ValueKind::UnchangedToast, {}}; }
  static Value of(std::string t) { return {ValueKind::Text, std::move(t)}; }
  [[nodiscard]] bool is_null() const { return kind == ValueKind::Null; }
  [[nodiscard]] bool is_unchanged_toast() const { return kind == ValueKind::UnchangedToast; }
  friend bool operator==(const Value&, const Value&) = default;
};

/// One tuple, in the relation's column order.
using Row = std::vector<Value>;

}  // namespace crmsync
