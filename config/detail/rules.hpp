#pragma once
// Internal: the value rules of a mapping column (transform, validate, split) and the target
// columns a mapping adds (constant, default, concat).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/detail/reader.hpp"
#include "config/pipeline_config.hpp"

namespace crmsync::config::detail {

/// A transform or a list of them; each a name ("trim") or a one-key mapping ({truncate: 100}).
void read_transforms(Context& ctx, const Value& v, std::vector<Transform>& out);
/// A validator or a list of them, in the same two forms.
void read_validators(Context& ctx, const Value& v, std::vector<Validator>& out);
/// {into: [first, last], separator: " ", at: first|last}
std::optional<Split> read_split(Context& ctx, const Value& v);
/// `add:` target column -> {constant: v} | {default: v} | {concat: [a, b], separator, transform, validate}.
/// `written_by(column)` names the `columns` entry that already writes a target column, if any.
void read_added(Context& ctx, const Value& v, std::map<std::string, AddedColumn>& out,
                const std::function<std::optional<std::string>(const std::string&)>& written_by);

}  // namespace crmsync::config::detail
