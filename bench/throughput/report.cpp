#include "report.h"

#include <cstdio>

namespace openbatch::bench {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

const Measurement* find(const std::vector<Row>& rows, const std::string& workload,
                        const std::string& system) {
  for (const Row& r : rows) {
    if (r.workload == workload && r.system == system && r.best) return &*r.best;
  }
  return nullptr;
}

// Generated tokens a second: the same as requests a second where every answer has its max_tokens, and
// the fair measure where answers end by themselves (json_object) and lengths differ between systems.
std::string ratio(const Measurement& a, const Measurement* b) {
  if (!b || b->wall_seconds <= 0 || a.wall_seconds <= 0 || b->generated_tokens <= 0) return "";
  return fixed(a.per_second(a.generated_tokens) / b->per_second(b->generated_tokens), 2) + "x";
}

std::string row_line(const Row& r, const std::vector<Row>& rows) {
  if (!r.best) return "| " + r.workload + " | " + r.system + " | failed: see above | | | | | | | | | |\n";
  const Measurement& m = *r.best;
  std::string vs_server, vs_ceiling;
  if (m.system == "openbatch") {
    vs_server = ratio(m, find(rows, r.workload, "llama-server"));
    vs_ceiling = ratio(m, find(rows, r.workload, "batched-bench"));
  }
  const std::string cached = m.prompt_tokens > 0 && m.system != "batched-bench"
                                 ? fixed(100.0 * m.cached_tokens / m.prompt_tokens, 0) + "%"
                                 : "-";
  return "| " + r.workload + " | " + m.system + " | " + m.setting + " | " + fixed(m.wall_seconds, 1) + " | " +
         fixed(m.per_second(m.requests), 2) + " | " + fixed(m.per_second(m.prompt_tokens), 0) + " | " +
         cached + " | " + fixed(m.per_second(m.generated_tokens), 1) + " | " +
         std::to_string(m.generated_tokens) + " | " + fixed(m.peak_rss_kib / 1024.0, 0) + " | " + vs_server +
         " | " + vs_ceiling + " |\n";
}

}  // namespace

std::string format_table(const std::vector<Row>& rows) {
  std::string out =
      "| workload | system | setting | wall s | req/s | prompt tok/s | cached | gen tok/s | generated | peak "
      "MiB "
      "| vs llama-server | vs ceiling |\n"
      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Row& r : rows) out += row_line(r, rows);
  return out;
}

std::vector<std::string> validity_warnings(const std::vector<Row>& rows, long expected_generated,
                                           bool fixed_lengths) {
  std::vector<std::string> warnings;
  for (const Row& r : rows) {
    if (!r.best) {
      warnings.push_back(r.workload + ", " + r.system + ": no result: " + r.error);
      continue;
    }
    const Measurement& m = *r.best;
    const std::string who = r.workload + ", " + r.system;
    if (m.failed > 0) warnings.push_back(who + ": " + std::to_string(m.failed) + " requests failed");
    if (!fixed_lengths) continue;
    if (m.short_answers > 0) {
      warnings.push_back(who + ": " + std::to_string(m.short_answers) + " answers stopped before max_tokens");
    }
    // The ceiling generates the mean length for every sequence: off by the rounding only.
    const bool ceiling = m.system == "batched-bench";
    const long diff = std::labs(m.generated_tokens - expected_generated);
    if (ceiling ? diff * 100 > expected_generated : diff != 0) {
      warnings.push_back(who + ": generated " + std::to_string(m.generated_tokens) +
                         " tokens, the workload asks " + std::to_string(expected_generated) +
                         ": MISMATCH, its ratios are not valid");
    }
  }
  return warnings;
}

}  // namespace openbatch::bench
