#include "cli/results_follow.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "cli/exit_codes.h"

namespace openbatch::cli {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != stdout) std::fclose(f);
  }
};

// A line of the error file: an error object, or a response that is not a 200.
bool is_error_line(const nlohmann::json& j) {
  if (j.contains("error") && !j["error"].is_null()) return true;
  const auto r = j.find("response");
  return r == j.end() || !r->is_object() || r->value("status_code", 0) != 200;
}

class LineWriter {
 public:
  LineWriter(std::FILE* out, bool with_errors) : out_(out), with_errors_(with_errors) {}

  // Writes the lines of jsonl whose custom_id is not written yet (errors only when asked for).
  Status write(std::string_view jsonl) {
    while (!jsonl.empty()) {
      const size_t end = jsonl.find('\n');
      const std::string_view line = jsonl.substr(0, end);
      jsonl = end == std::string_view::npos ? std::string_view() : jsonl.substr(end + 1);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("custom_id") || !j["custom_id"].is_string()) continue;
      if (!written_.insert(j["custom_id"].get<std::string>()).second) continue;
      if (!with_errors_ && is_error_line(j)) continue;
      if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fputc('\n', out_) == EOF) {
        return Status::internal("cannot write the results");
      }
    }
    if (std::fflush(out_) != 0) return Status::internal("cannot write the results");
    return Status::ok();
  }

 private:
  std::FILE* out_;
  bool with_errors_;
  std::unordered_set<std::string> written_;
};

}  // namespace

int follow_results(client::OpenAiClient& client, const std::string& batch_id, bool with_errors,
                   const std::string& out_path, double poll_seconds) {
  std::unique_ptr<std::FILE, FileCloser> out(out_path.empty() ? stdout : std::fopen(out_path.c_str(), "wb"));
  if (!out) return report_failure("results", Status::internal("cannot write " + out_path));
  LineWriter writer(out.get(), with_errors);
  static const std::set<std::string> kEnded = {"completed", "failed", "expired", "cancelled"};
  int64_t cursor = 0;
  for (;;) {
    Result<client::OpenAiClient::FinishedLines> page = client.batch_output(batch_id, cursor);
    if (!page) return report_failure("results", page.status());
    if (Status s = writer.write(page->jsonl); !s) return report_failure("results", s);
    const bool more = page->cursor != cursor;
    cursor = page->cursor;
    if (more) continue;  // a full page: the next may follow at once
    if (kEnded.count(page->status) != 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
  }
  // Ended: the results stored after the last page are in the files.
  Result<nlohmann::json> batch = client.get_batch(batch_id);
  if (!batch) return report_failure("results", batch.status());
  for (const char* key : {"output_file_id", "error_file_id"}) {
    const auto id = batch->find(key);
    if (id == batch->end() || !id->is_string()) continue;
    if (std::string_view(key) == "error_file_id" && !with_errors) continue;
    Result<std::string> content = client.file_content(id->get<std::string>());
    if (!content) return report_failure("results", content.status());
    if (Status s = writer.write(*content); !s) return report_failure("results", s);
  }
  return kExitOk;
}

}  // namespace openbatch::cli
