#include <doctest/doctest.h>

#include "daemon/copy_progress.hpp"

using crmsync::daemon::CopyProgress;

TEST_CASE("copy progress lines show rows, percent, rate and ETA") {
  CHECK(CopyProgress::render_line("public.contacts", 1200000, 2000000, 400000, 5, 8) ==
        "public.contacts  1200000 rows of ~2000000 (60%)  chunks 5/8  400000 rows/s  ETA 2s");
  CHECK(CopyProgress::render_line("public.big", 100, 100000, 10, 0, 4) ==
        "public.big  100 rows of ~100000 (0%)  chunks 0/4  10 rows/s  ETA 2h46m");
  // Finished: 100% whatever the (stale) estimate said, no rate or ETA.
  CHECK(CopyProgress::render_line("public.t", 2100, 2000, 0, 3, 3) ==
        "public.t  2100 rows of ~2000 (100%)  chunks 3/3  done");
  // Never analyzed: no estimate, no percent.
  CHECK(CopyProgress::render_line("public.n", 50, -1, 25, 0, 1) == "public.n  50 rows  chunks 0/1  25 rows/s");
}
