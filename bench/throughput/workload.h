// The requests of the throughput benchmark, shaped like Example 1 of the OpenAI batch guide (movie
// descriptions in, categories and a summary out as JSON), generated from fixed seeds.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace openbatch::bench {

enum class WorkloadKind {
  kSharedPrefix,  // one system prompt of ~300 tokens for every request (the guide's case)
  kDistinct,      // a different system prompt of the same length for every request
  kGuide,         // the guide's Example 1 as it is: its system prompt verbatim, real movie overviews
};

// What the requests ask the model to write. kJsonSchema and kText force every answer to its
// max_tokens (ignore_eos); kJsonObject is the guide's own mode, where answers end when their JSON does
// (lengths then differ between systems: compare tokens a second).
enum class OutputFormat { kJsonSchema, kJsonObject, kText };

const char* format_name(OutputFormat format);
Result<OutputFormat> format_by_name(const std::string& name);

const char* workload_name(WorkloadKind kind);

struct BenchRequest {
  std::string custom_id;
  nlohmann::json body;  // a /v1/chat/completions body
  int max_tokens = 0;   // what it generates: ignore_eos forces every answer to this length
};

struct Workload {
  WorkloadKind kind = WorkloadKind::kSharedPrefix;
  std::vector<BenchRequest> requests;

  long total_max_tokens() const;
};

struct WorkloadOptions {
  int requests = 512;
  std::string model_id;
  uint32_t seed = 1;
  int min_generated = 64;
  int max_generated = 128;
  OutputFormat format = OutputFormat::kJsonSchema;
  std::vector<std::string> overviews;  // kGuide's user messages, used in turn
};

// The Overview column of a CSV file (examples/data/movies.csv).
Result<std::vector<std::string>> read_overviews(const std::string& csv_path);

// The number of tokens a text takes in the model's vocabulary.
using TokenCounter = std::function<Result<int>(const std::string&)>;

// Lengths are in the model's own tokens: the shared system prompt is the guide's, cut or extended to
// ~300 tokens; user texts and distinct system prompts are words sized by the measured tokens a word.
// REQUIRES: 0 < min_generated <= max_generated <= kMaxGenerated.
Result<Workload> make_workload(WorkloadKind kind, const WorkloadOptions& options, const TokenCounter& count);

// The most tokens a request may generate: the schema keeps its JSON open for this many tokens.
inline constexpr int kMaxGenerated = 128;

// One line a request, as the Batch API takes them.
Status write_batch_input(const Workload& workload, const std::string& path);

}  // namespace openbatch::bench
