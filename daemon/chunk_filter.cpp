#include "daemon/chunk_filter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

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

std::string ChunkSnapshot::text(const std::string& xid_snapshot, Lsn taken_at) {
  return fmt::format("{} {}", xid_snapshot, taken_at);
}

Result<ChunkSnapshot> ChunkSnapshot::parse(const std::string& text) {
  const auto space = text.find(' ');
  if (space == std::string::npos) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("the checkpoint holds a chunk snapshot \"{}\" without the WAL position it was taken at "
                             "(written by an older crmsync); the stream cannot reconcile it safely. Finish this "
                             "migration with that version, or start over with this one",
                             text)};
  }
  auto xids = XidSnapshot::parse(text.substr(0, space));
  if (!xids) return xids.take_error();
  auto lsn = Lsn::parse(text.substr(space + 1));
  if (!lsn) return Error{ErrorCode::Io, fmt::format("checkpoint holds a malformed snapshot \"{}\"", text)};
  return ChunkSnapshot{std::move(xids).value(), *lsn};
}

Result<ChunkFilter> ChunkFilter::load(const checkpoint::Store& store, Lsn start) {
  auto chunks = store.chunks();
  if (!chunks) return chunks.take_error();
  ChunkFilter f;
  for (const auto& c : *chunks) {
    if (c.state != checkpoint::ChunkState::Done) continue;
    auto snap = ChunkSnapshot::parse(c.snapshot);
    if (!snap) {
      return Error{snap.error().code, fmt::format("chunk {}#{}: {}", c.table, c.index, snap.error().message)};
    }
    const bool by_key = c.kind == checkpoint::ChunkKind::KeyRange;
    auto& t = f.tables_[c.table];
    if (by_key) t.key_column = c.key_column;
    t.last_taken_at = std::max(t.last_taken_at, snap->taken_at);
    t.chunks.push_back(Chunk{by_key ? c.lower : std::nullopt, by_key ? c.upper : std::nullopt, *snap});
  }
  (void)f.pass(start);
  return f;
}

const std::string* ChunkFilter::key_column(const std::string& table) const {
  const auto it = tables_.find(table);
  if (it == tables_.end() || it->second.key_column.empty()) return nullptr;
  return &it->second.key_column;
}

bool ChunkFilter::copied_after(const std::string& table, std::optional<std::int64_t> key, Xid xid, Lsn commit) const {
  const auto it = tables_.find(table);
  if (it == tables_.end()) return false;
  const auto& t = it->second;
  if (t.key_column.empty()) {
    // Whole-table or block chunks: a table is copied at one snapshot (cdc/README.md, "Resume").
    return !t.chunks.empty() &&
           std::all_of(t.chunks.begin(), t.chunks.end(), [&](const Chunk& c) { return c.snapshot.sees(xid, commit); });
  }
  if (!key) return false;
  for (const auto& c : t.chunks) {
    if ((c.lower && *key < *c.lower) || (c.upper && *key >= *c.upper)) continue;
    return c.snapshot.sees(xid, commit);
  }
  return false;
}

std::vector<ChunkFilter::Range> ChunkFilter::ranges_not_seeing(const std::string& table, Xid xid, Lsn commit) const {
  const auto it = tables_.find(table);
  if (it == tables_.end()) return {Range{}};
  if (it->second.key_column.empty()) {
    if (copied_after(table, std::nullopt, xid, commit)) return {};
    return {Range{}};
  }
  std::vector<Range> out;
  for (const auto& c : it->second.chunks) {
    if (!c.snapshot.sees(xid, commit)) out.push_back(Range{c.lower, c.upper});
  }
  return out;
}

std::vector<std::string> ChunkFilter::pass(Lsn commit) {
  std::vector<std::string> dropped;
  for (auto it = tables_.begin(); it != tables_.end();) {
    if (it->second.last_taken_at <= commit) {
      dropped.push_back(it->first);
      it = tables_.erase(it);
    } else {
      ++it;
    }
  }
  return dropped;
}

}  // namespace crmsync::daemon
