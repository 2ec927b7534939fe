#pragma once
// The outcome of one preflight check (`crmsync check`). Produced by cdc/ for the source and by
// sink/ for the target; rendered by daemon/.

#include <string>
#include <vector>

namespace crmsync {

enum class CheckStatus { Ok, Warn, Fail };

struct CheckItem {
  std::string scope;   // "source", "target", "config"
  std::string name;    // short and stable, e.g. "wal_level", "table public.contacts"
  CheckStatus status = CheckStatus::Ok;
  std::string detail;  // what was found and, when not ok, what to do
};

using CheckReport = std::vector<CheckItem>;

inline bool all_passed(const CheckReport& report) {
  for (const auto& item : report) {
    if (item.status == CheckStatus::Fail) {
      return false;
    }
  }
  return true;
}

}  // namespace crmsync
