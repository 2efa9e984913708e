#include "workload.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "cli/csv.h"

namespace openbatch::bench {

namespace {

using nlohmann::json;

// The system prompt of the guide's Example 1, verbatim.
constexpr const char* kGuideSystemPrompt = R"(
Your goal is to extract movie categories from movie descriptions, as well as a 1-sentence summary for these movies.
You will be provided with a movie description, and you will output a json object containing the following information:

{
    categories: string[] // Array of categories based on the movie description,
    summary: string // 1-sentence summary of the movie based on the movie description
}

Categories refer to the genre or type of the movie, like "action", "romance", "comedy", etc. Keep category names simple and use only lower case letters.
Movies can have several categories, but try to keep it under 3-4. Only mention the categories that are the most obvious based on the description.
)";

// Lengths in the model's own tokens (the guide's prompt is ~150 tokens in a real vocabulary).
constexpr int kSystemPromptTokens = 300;
constexpr int kMinUserTokens = 40;
constexpr int kMaxUserTokens = 120;

// Words of the descriptions (from the benchmark vocabulary's training text).
constexpr const char* kWords[] = {
    "the",    "film",   "house",   "family", "story",  "room",    "table",  "chair",  "movie",  "old",
    "young",  "woman",  "mother",  "father", "small",  "town",    "forest", "edge",   "opens",  "moves",
    "full",   "long",   "sofa",    "tall",   "window", "kitchen", "living", "made",   "good",   "actors",
    "best",   "year",   "people",  "ending", "wanted", "alive",   "every",  "second", "part",   "finds",
    "hidden", "behind", "mirror",  "bed",    "red",    "music",   "quiet",  "slow",   "camera", "name",
    "main",   "actor",  "plays",   "about",  "two",    "hours",   "last",   "scary",  "older",  "home",
    "new",    "bowl",   "corner",  "lamp",   "wood",   "desk",    "glass",  "books",  "cup",    "coffee",
    "big",    "night",  "soft",    "floor",  "couch",  "four",    "dining", "shop",   "price",  "high",
    "darker", "color",  "reading", "book",   "design", "scene",   "final",  "letter", "simple", "secret",
    "summer", "star",   "sequel",  "many",   "years",  "strong",  "like",   "watch",  "cinema", "coming",
    "next",   "tell",   "before",  "answer", "list",   "review",
};

// `words` random words in sentences of 6 to 14 words.
std::string words_text(std::mt19937& rng, int words) {
  std::uniform_int_distribution<size_t> pick(0, std::size(kWords) - 1);
  std::uniform_int_distribution<int> sentence_length(6, 14);
  std::string text;
  int left_in_sentence = 0;
  for (int i = 0; i < words; ++i) {
    std::string w = kWords[pick(rng)];
    if (left_in_sentence == 0) {
      left_in_sentence = sentence_length(rng);
      w[0] = static_cast<char>(w[0] - 'a' + 'A');
    }
    text += (i == 0 ? "" : " ") + w;
    if (--left_in_sentence == 0 || i + 1 == words) text += ".";
  }
  return text;
}

// Tokens a word of words_text() takes in the model's vocabulary, on average.
Result<double> tokens_per_word(const TokenCounter& count) {
  constexpr int kSampleWords = 2000;
  std::mt19937 rng(12345);
  auto tokens = count(words_text(rng, kSampleWords));
  if (!tokens) return tokens.status();
  return static_cast<double>(*tokens) / kSampleWords;
}

std::string text_of_tokens(std::mt19937& rng, int tokens, double per_word) {
  return words_text(rng, std::max(1, static_cast<int>(tokens / per_word + 0.5)));
}

// The guide's prompt cut at a space, or extended with descriptions, to about kSystemPromptTokens.
Result<std::string> shared_system_prompt(const TokenCounter& count, double per_word) {
  const std::string guide = kGuideSystemPrompt;
  auto guide_tokens = count(guide);
  if (!guide_tokens) return guide_tokens.status();
  if (*guide_tokens < kSystemPromptTokens) {
    std::mt19937 rng(7);
    const std::string intro = "\nExamples of descriptions you will see:\n";
    const int rest = kSystemPromptTokens - *guide_tokens;
    return guide + intro + text_of_tokens(rng, std::max(1, rest - 8), per_word);
  }
  // The longest prefix ending before a space that stays within the target (binary search).
  std::vector<size_t> cuts;
  for (size_t i = 0; i < guide.size(); ++i) {
    if (guide[i] == ' ') cuts.push_back(i);
  }
  size_t lo = 0, hi = cuts.size();
  while (lo + 1 < hi) {
    const size_t mid = (lo + hi) / 2;
    auto tokens = count(guide.substr(0, cuts[mid]));
    if (!tokens) return tokens.status();
    (*tokens <= kSystemPromptTokens ? lo : hi) = mid;
  }
  return cuts.empty() ? guide : guide.substr(0, cuts[lo]);
}

// The guide's output shape as a json_schema. The summary's minimum length keeps the JSON open for
// kMaxGenerated tokens of up to 12 characters (the benchmark vocabulary's longest): the grammar then
// never reaches the end of the object before max_tokens, where only end-of-generation would be left
// to sample while ignore_eos forbids it (llama-server bans it with a -inf bias).
json output_schema() {
  return {{"type", "object"},
          {"properties",
           {{"categories", {{"type", "array"}, {"items", {{"type", "string"}}}}},
            {"summary", {{"type", "string"}, {"minLength", 12 * kMaxGenerated}}}}},
          {"required", {"categories", "summary"}},
          {"additionalProperties", false}};
}

}  // namespace

const char* workload_name(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kSharedPrefix:
      return "shared prefix";
    case WorkloadKind::kDistinct:
      return "distinct";
    case WorkloadKind::kGuide:
      break;
  }
  return "guide";
}

const char* format_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::kJsonSchema:
      return "json_schema";
    case OutputFormat::kJsonObject:
      return "json_object";
    case OutputFormat::kText:
      break;
  }
  return "text";
}

Result<OutputFormat> format_by_name(const std::string& name) {
  for (OutputFormat f : {OutputFormat::kJsonSchema, OutputFormat::kJsonObject, OutputFormat::kText}) {
    if (name == format_name(f)) return f;
  }
  return Status::invalid_request("unknown format '" + name + "' (json_schema, json_object, text)", "format");
}

Result<std::vector<std::string>> read_overviews(const std::string& csv_path) {
  std::ifstream in(csv_path, std::ios::binary);
  if (!in) return Status::internal("cannot read " + csv_path);
  std::ostringstream text;
  text << in.rdbuf();
  auto table = cli::parse_csv(text.str());
  if (!table) return table.status();
  const auto column = std::find(table->header.begin(), table->header.end(), "Overview");
  if (column == table->header.end()) return Status::internal(csv_path + " has no Overview column");
  const size_t at = static_cast<size_t>(column - table->header.begin());
  std::vector<std::string> out;
  for (const auto& row : table->rows) {
    if (at < row.size() && !row[at].empty()) out.push_back(row[at]);
  }
  if (out.empty()) return Status::internal(csv_path + " has no overviews");
  return out;
}

long Workload::total_max_tokens() const {
  long total = 0;
  for (const BenchRequest& r : requests) total += r.max_tokens;
  return total;
}

Result<Workload> make_workload(WorkloadKind kind, const WorkloadOptions& options, const TokenCounter& count) {
  auto per_word = tokens_per_word(count);
  if (!per_word) return per_word.status();
  auto shared = shared_system_prompt(count, *per_word);
  if (!shared) return shared.status();
  Workload w;
  w.kind = kind;
  if (kind == WorkloadKind::kGuide && options.overviews.empty()) {
    return Status::invalid_request("the guide workload needs overviews", "overviews");
  }
  json response_format = nullptr;
  if (options.format == OutputFormat::kJsonSchema) {
    response_format = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "movie_categories"}, {"strict", true}, {"schema", output_schema()}}}};
  } else if (options.format == OutputFormat::kJsonObject) {
    response_format = {{"type", "json_object"}};
  }
  // One stream for lengths and user texts, another for the distinct system prompts: the two
  // workloads hold the same user texts and lengths.
  std::mt19937 rng(options.seed);
  std::mt19937 system_rng(options.seed + 1000003u);
  std::uniform_int_distribution<int> user_tokens(kMinUserTokens, kMaxUserTokens);
  std::uniform_int_distribution<int> generated(options.min_generated, options.max_generated);
  for (int i = 0; i < options.requests; ++i) {
    BenchRequest r;
    r.custom_id = "movie-" + std::to_string(i);
    r.max_tokens = generated(rng);
    const std::string words = text_of_tokens(rng, user_tokens(rng), *per_word);
    const std::string user =
        kind == WorkloadKind::kGuide ? options.overviews[i % options.overviews.size()] : words;
    const std::string system = kind == WorkloadKind::kGuide ? std::string(kGuideSystemPrompt)
                               : kind == WorkloadKind::kSharedPrefix
                                   ? *shared
                                   : text_of_tokens(system_rng, kSystemPromptTokens, *per_word);
    r.body = {
        {"model", options.model_id},
        {"temperature", 0.1},
        {"seed", i},
        {"max_tokens", r.max_tokens},
        {"messages", {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}}}};
    if (options.format != OutputFormat::kJsonObject) r.body["ignore_eos"] = true;
    if (!response_format.is_null()) r.body["response_format"] = response_format;
    w.requests.push_back(std::move(r));
  }
  return w;
}

Status write_batch_input(const Workload& workload, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  for (const BenchRequest& r : workload.requests) {
    const json line = {
        {"custom_id", r.custom_id}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", r.body}};
    out << line.dump() << "\n";
  }
  out.close();
  if (!out) return Status::internal("cannot write " + path);
  return Status::ok();
}

}  // namespace openbatch::bench
