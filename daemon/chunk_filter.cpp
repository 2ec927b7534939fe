#include "daemon/chunk_filter.hpp"

#include <charconv>

#include <fmt/format.h>

namespace crmsync::daemon {
namespace {

bool parse_u64(std::string_view s, std::uint64_t& out) {
  return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc{};
}

}  // namespace

Result<XidSnapshot> XidSnapshot::parse(const std::string& text) {
  const auto bad = [&] {
    return Error{ErrorCode::Io, fmt::format("checkpoint holds a malformed snapshot \"{}\"", text)};
  };
  const auto c1 = text.find(':');
  const auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos) return bad();
  XidSnapshot s;
  const std::string_view v(text);
  if (!parse_u64(v.substr(0, c1), s.xmin) || !parse_u64(v.substr(c1 + 1, c2 - c1 - 1), s.xmax)) return bad();
  auto rest = v.substr(c2 + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::uint64_t x = 0;
    if (!parse_u64(rest.substr(0, comma), x)) return bad();
    s.xip.insert(x);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return s;
}

bool XidSnapshot::sees(Xid xid) const {
  // Widen the 32-bit id relative to xmax: ids within 2^31 either side of it (all that can be
  // live at once) map to the right epoch, including across a wraparound.
  const auto diff = static_cast<std::int32_t>(xid.value() - static_cast<std::uint32_t>(xmax));
  const std::uint64_t full = xmax + static_cast<std::uint64_t>(static_cast<std::int64_t>(diff));
  if (full < xmin) return true;
  return full < xmax && !xip.contains(full);
}

Result<ChunkFilter> ChunkFilter::load(const checkpoint::Store& store) {
  auto chunks = store.chunks();
  if (!chunks) return chunks.take_error();
  ChunkFilter f;
  for (const auto& c : *chunks) {
    if (c.state != checkpoint::ChunkState::Done) continue;
    auto snap = XidSnapshot::parse(c.snapshot);
    if (!snap) return snap.take_error();
    f.tables_[c.table].push_back(Chunk{c.kind == checkpoint::ChunkKind::KeyRange ? c.lower : std::nullopt,
                                       c.kind == checkpoint::ChunkKind::KeyRange ? c.upper : std::nullopt, *snap});
  }
  return f;
}

bool ChunkFilter::copied_after(const std::string& table, std::optional<std::int64_t> key, Xid xid) const {
  const auto it = tables_.find(table);
  if (it == tables_.end()) return false;
  for (const auto& c : it->second) {
    const bool bounded = c.lower || c.upper;
    if (bounded && key) {
      if ((c.lower && *key < *c.lower) || (c.upper && *key >= *c.upper)) continue;
      return c.snapshot.sees(xid);
    }
    if (!bounded) return c.snapshot.sees(xid);  // whole-table or block chunks: one snapshot per table
  }
  return false;
}

std::vector<ChunkFilter::Range> ChunkFilter::ranges_not_seeing(const std::string& table, Xid xid) const {
  std::vector<Range> out;
  const auto it = tables_.find(table);
  if (it == tables_.end()) return {Range{}};
  for (const auto& c : it->second) {
    if (!c.snapshot.sees(xid)) out.push_back(Range{c.lower, c.upper});
  }
  return out;
}

}  // namespace crmsync::daemon
