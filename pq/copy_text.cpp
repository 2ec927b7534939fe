#include "pq/copy_text.hpp"

#include <fmt/format.h>

namespace crmsync::pq {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Error malformed(std::size_t field, std::string_view why) {
  return Error{ErrorCode::ProtocolViolation, fmt::format("COPY text row, field {}: {}", field + 1, why)};
}

}  // namespace

Status parse_copy_text(std::string_view line, std::size_t columns, Row& row) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  row.clear();
  row.reserve(columns);
  std::string text;
  std::size_t i = 0;
  while (true) {
    const std::size_t field = row.size();
    if (line.substr(i, 2) == "\\N" && (i + 2 == line.size() || line[i + 2] == '\t')) {
      row.push_back(Value::null());
      i += 2;
    } else {
      // Most fields have no escape: one scan for the field's end, one copy.
      const auto tab = line.find('\t', i);
      const auto end = tab == std::string_view::npos ? line.size() : tab;
      const auto field_text = line.substr(i, end - i);
      if (field_text.find('\\') == std::string_view::npos) {
        row.push_back(Value::of(std::string(field_text)));
        i = end;
        if (i == line.size()) break;
        ++i;  // the tab
        continue;
      }
      text.clear();
      while (i < line.size() && line[i] != '\t') {
        const char c = line[i++];
        if (c != '\\') {
          text += c;
          continue;
        }
        if (i >= line.size()) return malformed(field, "ends in a lone backslash");
        const char e = line[i++];
        switch (e) {
          case 'b': text += '\b'; break;
          case 'f': text += '\f'; break;
          case 'n': text += '\n'; break;
          case 'r': text += '\r'; break;
          case 't': text += '\t'; break;
          case 'v': text += '\v'; break;
          case 'x': {
            int v = 0;
            int n = 0;
            while (n < 2 && i < line.size() && hex(line[i]) >= 0) v = v * 16 + hex(line[i++]), ++n;
            if (n == 0) {
              text += 'x';  // as PostgreSQL: \x without hex digits is a plain x
            } else {
              text += static_cast<char>(v);
            }
            break;
          }
          default:
            if (e >= '0' && e <= '7') {
              int v = e - '0';
              for (int n = 1; n < 3 && i < line.size() && line[i] >= '0' && line[i] <= '7'; ++n)
                v = v * 8 + (line[i++] - '0');
              text += static_cast<char>(v & 0xFF);
            } else {
              text += e;  // \\ and any other escaped character stand for themselves
            }
        }
      }
      row.push_back(Value::of(text));
    }
    if (i == line.size()) break;
    ++i;  // the tab
  }
  if (row.size() != columns) {
    return Error{ErrorCode::ProtocolViolation,
                 fmt::format("COPY text row has {} fields, expected {}", row.size(), columns)};
  }
  return {};
}

void append_copy_text(const Row& row, std::string& out) {
  for (std::size_t f = 0; f < row.size(); ++f) {
    if (f > 0) out += '\t';
    const auto& v = row[f];
    if (v.kind != ValueKind::Text) {
      out += "\\N";
      continue;
    }
    // Runs without a character to escape are appended whole.
    const char* p = v.text.data();
    const char* const end = p + v.text.size();
    while (p < end) {
      const char* run = p;
      while (p < end && *p != '\\' && *p != '\t' && *p != '\n' && *p != '\r') ++p;
      out.append(run, static_cast<std::size_t>(p - run));
      if (p == end) break;
      switch (*p++) {
        case '\\': out += "\\\\"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        default: out += "\\r"; break;
      }
    }
  }
  out += '\n';
}

}  // namespace crmsync::pq
