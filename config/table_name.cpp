#include "config/detail/table_name.hpp"

#include <fmt/format.h>

namespace crmsync::config::detail {

namespace {

// PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server.
constexpr std::size_t kMaxIdentifier = 63;

bool lower_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool lower_rest(char c) { return lower_start(c) || (c >= '0' && c <= '9') || c == '$'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

bool needs_quotes(std::string_view part) {
  if (part.empty() || !lower_start(part.front())) return true;
  for (const char c : part) {
    if (!lower_rest(c)) return true;
  }
  return false;
}

// The part as it would be written in the config: quoted when it has to be.
std::string written(std::string_view part) {
  if (!needs_quotes(part)) return std::string(part);
  std::string out = "\"";
  for (const char c : part) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

// One part (schema or table) starting at text[i]; advances i past it. Returns the problem, or ""
// and the part's text in `part`.
std::string parse_part(std::string_view text, std::size_t& i, std::string& part, std::string_view what) {
  part.clear();
  if (i < text.size() && text[i] == '"') {
    ++i;
    while (true) {
      if (i >= text.size()) return "unterminated double quote";
      if (text[i] == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {  // "" is a quote inside a quoted name
          part += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      part += text[i++];
    }
    if (part.empty()) return fmt::format("empty {} name", what);
    if (i < text.size() && text[i] != '.') return "unexpected text after a closing double quote";
  } else {
    while (i < text.size() && text[i] != '.') part += text[i++];
    if (part.empty()) return fmt::format("empty {} name", what);
    bool has_upper = false;
    bool plain = lower_start(part.front()) || is_upper(part.front());
    for (const char c : part) {
      has_upper = has_upper || is_upper(c);
      plain = plain && (lower_rest(c) || is_upper(c));
    }
    if (!plain) {
      return fmt::format("an unquoted {} name may only contain a-z, 0-9, _ and $ and must not start with a digit; "
                         "write other names in double quotes",
                         what);
    }
    if (has_upper) {
      return fmt::format("the unquoted {} name has uppercase letters, which PostgreSQL folds to lowercase; write "
                         "it in lowercase, or in double quotes if the name really is mixed-case",
                         what);
    }
  }
  if (part.size() > kMaxIdentifier) return fmt::format("the {} name is longer than 63 bytes", what);
  return {};
}

}  // namespace

ParsedTableName parse_table_name(std::string_view text) {
  if (text.empty()) return {std::nullopt, "expected table or schema.table"};
  std::string first;
  std::size_t i = 0;
  // Whether the first part is the schema depends on what follows; name it "schema" only if a dot
  // does, so "public." and ".x" both say which part is missing.
  std::size_t probe = 0;
  std::string scratch;
  parse_part(text, probe, scratch, "table");
  const bool first_is_schema = probe < text.size();
  if (auto problem = parse_part(text, i, first, first_is_schema ? "schema" : "table"); !problem.empty()) {
    return {std::nullopt, problem};
  }
  if (i == text.size()) return {TableName{"public", first}, {}};
  ++i;  // the dot
  std::string second;
  if (auto problem = parse_part(text, i, second, "table"); !problem.empty()) return {std::nullopt, problem};
  if (i != text.size()) return {std::nullopt, "expected table or schema.table, got more than one dot"};
  return {TableName{first, second}, {}};
}

std::optional<LocatedTable> read_table(Context& ctx, const Value& v) {
  const auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  ParsedTableName parsed = parse_table_name(s->value);
  if (!parsed.name) {
    ctx.error(v.pos, v.path, fmt::format("invalid table name {}: {}", s->shown(), parsed.problem));
    return std::nullopt;
  }
  std::string shown =
      s->substituted ? s->shown() : written(parsed.name->schema) + "." + written(parsed.name->table);
  return LocatedTable{std::move(*parsed.name), v.path, v.pos, std::move(shown)};
}

}  // namespace crmsync::config::detail
