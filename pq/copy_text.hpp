#pragma once
// PostgreSQL's COPY text format, one row at a time: what the copy needs to read rows out of a
// source COPY and write mapped rows into a target COPY. Fields are separated by a tab, NULL is
// \N, and a backslash escapes the backslash, tab, line feed, carriage return, \b \f \v, octal
// \ooo and hex \xhh (the server writes only the first few, but any is accepted).

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/value.hpp"

namespace crmsync::pq {

/// One data line of COPY TO STDOUT (text), with or without its final line feed, into `row`
/// (replaced). An error names the field when the line is malformed (a dangling backslash, a
/// field count other than `columns`).
Status parse_copy_text(std::string_view line, std::size_t columns, Row& row);

/// Appends `row` to `out` as one COPY FROM STDIN text line (with its line feed). Unchanged-TOAST
/// values never occur in a copy and are written as NULL.
void append_copy_text(const Row& row, std::string& out);

}  // namespace crmsync::pq
