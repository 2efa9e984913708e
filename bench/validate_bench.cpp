// How fast a batch input file is validated, beside a plain simdjson parse of the same lines: validation
// should cost little more than parsing. The input is generated: guide-shaped chat requests padded to
// --megabytes over --lines lines (200 MB and 50,000 lines by default: OpenAI's limits).
//
//   validate_bench [--megabytes 200] [--lines 50000] [--runs 3]
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "batch/input_validator.h"
#include "blobs/blobs.h"
#include "common/temp_dir.h"

using namespace openbatch;

namespace {

std::string make_input(int64_t bytes, int64_t lines) {
  const int64_t per_line = bytes / lines;
  const std::string head =
      R"({"method": "POST", "url": "/v1/chat/completions", "body": {"model": "tiny", "temperature": 0.1, )"
      R"("response_format": {"type": "json_object"}, "messages": [{"role": "system", "content": "Extract movie )"
      R"(categories and a one-sentence summary as JSON."}, {"role": "user", "content": ")";
  std::string out;
  out.reserve(static_cast<size_t>(bytes + lines * 32));
  for (int64_t i = 0; i < lines; ++i) {
    const std::string id = R"({"custom_id": "task-)" + std::to_string(i) + "\", ";
    const int64_t pad = std::max<int64_t>(1, per_line - static_cast<int64_t>(id.size() + head.size()) - 6);
    out += id;
    out.append(head, 1, std::string::npos);  // head without its opening brace
    for (int64_t j = 0; j < pad; ++j) out += static_cast<char>('a' + (i + j) % 26);
    out += "\"}]}}\n";
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Batch input validation speed against a plain simdjson parse"};
  int64_t megabytes = 200, lines = 50000;
  int runs = 3;
  app.add_option("--megabytes", megabytes, "size of the generated input");
  app.add_option("--lines", lines, "requests in the generated input");
  app.add_option("--runs", runs, "best of this many runs is reported");
  CLI11_PARSE(app, argc, argv);

  const std::string input = make_input(megabytes * 1024 * 1024, lines);
  const double mb = static_cast<double>(input.size()) / (1024 * 1024);
  batch::ValidationLimits limits;
  limits.models = {"tiny"};
  limits.max_bytes = static_cast<int64_t>(input.size());
  limits.max_requests = lines;

  // The service's path: the input file read back from the blob directory in chunks.
  TempDir dir;
  auto blobs = blobs::open_local_blob_store(dir.path());
  if (!blobs) return 1;
  {
    auto w = (*blobs)->create("input");
    if (!w || !(*w)->append(input) || !(*w)->commit()) return 1;
  }
  auto reader = (*blobs)->open("input");
  if (!reader) return 1;

  double parse_best = 1e9, validate_best = 1e9, file_best = 1e9;
  for (int r = 0; r < runs; ++r) {
    // Plain parse: every line through simdjson's DOM parser, nothing checked.
    simdjson::padded_string padded(input);
    simdjson::dom::parser parser;
    auto t = std::chrono::steady_clock::now();
    size_t pos = 0, parsed = 0;
    while (pos < padded.size()) {
      const char* nl = static_cast<const char*>(std::memchr(padded.data() + pos, '\n', padded.size() - pos));
      const size_t end = nl ? static_cast<size_t>(nl - padded.data()) : padded.size();
      simdjson::dom::element doc;
      if (parser.parse(padded.data() + pos, end - pos, false).get(doc) == simdjson::SUCCESS) ++parsed;
      pos = end + 1;
    }
    parse_best = std::min(parse_best, seconds_since(t));

    t = std::chrono::steady_clock::now();
    batch::ValidatedInput v = batch::validate_input(input, limits);
    validate_best = std::min(validate_best, seconds_since(t));

    t = std::chrono::steady_clock::now();
    batch::ValidatedInput from_file = batch::validate_input(**reader, limits);
    file_best = std::min(file_best, seconds_since(t));
    if (from_file.requests.size() != v.requests.size()) return 1;
    if (!v.errors.empty() || static_cast<int64_t>(v.requests.size()) != lines ||
        static_cast<int64_t>(parsed) != lines) {
      std::fprintf(stderr, "unexpected: %zu errors, %zu requests, %zu parsed\n", v.errors.size(),
                   v.requests.size(), parsed);
      return 1;
    }
  }
  std::printf("input: %.1f MB, %lld lines (best of %d runs)\n", mb, static_cast<long long>(lines), runs);
  std::printf("%-22s %10s %12s\n", "", "MB/s", "lines/s");
  std::printf("%-22s %10.0f %12.0f\n", "simdjson parse only", mb / parse_best, lines / parse_best);
  std::printf("%-22s %10.0f %12.0f\n", "validation (memory)", mb / validate_best, lines / validate_best);
  std::printf("%-22s %10.0f %12.0f\n", "validation (file)", mb / file_best, lines / file_best);
  std::printf("validation / parse time: %.2fx (memory), %.2fx (file)\n", validate_best / parse_best,
              file_best / parse_best);
  return 0;
}
