// The power-cut campaign (issue 24): a whole BatchService (the SQLite store on PowerCutVfs, the local
// blob store on PowerCutBlobFiles, one PowerSwitch for both disks, the fake engine) uploads files, creates
// batches and runs them to their end, and loses power at a random one of the writes, truncates, syncs,
// creates, renames and folder syncs that both disks see. Then a "reboot": unsynced writes dropped, the
// service opened again over what the disks hold and started. Checked after each cut: every upload that
// was acknowledged reads back byte for byte, every batch resumes and completes, every input line ends
// exactly once in its output or error file, request_counts and usage exact.
//
// OPENBATCH_POWER_CUTS (default 40) cuts, each from the seed OPENBATCH_POWER_CUT_SEED (default 24) plus
// its index: its workload (files, lines, sizes) and the operation the power goes at. The runner's
// threads make which operation that is depend on timing too; a failure names the seed that draws its
// workload and cut again (OPENBATCH_POWER_CUTS=1 OPENBATCH_POWER_CUT_SEED=...).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "blobs/blob_files.h"
#include "blobs/power_cut_blob_files_for_test.h"
#include "common/power_switch_for_test.h"
#include "common/temp_dir.h"
#include "store/power_cut_vfs_for_test.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

using blobs::testing::PowerCutBlobFiles;
using openbatch::testing::PowerSwitch;
using store::testing::PowerCutVfs;

constexpr const char* kOwner = "kh-power";

int64_t env_or(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

struct Upload {
  std::string purpose;
  std::string bytes;
  int lines = 0;                       // batch inputs: requests
  std::set<std::string> too_long_ids;  // of them, those the engine fails (context_length_exceeded)
};

// One life's work, drawn from its seed: two batch inputs and a file of other bytes.
std::vector<Upload> draw_uploads(std::mt19937_64& rng) {
  std::vector<Upload> out;
  for (int f = 0; f < 2; ++f) {
    Upload u;
    u.purpose = "batch";
    u.lines = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int i = 0; i < u.lines; ++i) {
      const bool too_long = std::uniform_int_distribution<int>(0, 4)(rng) == 0;
      const std::string id = "f" + std::to_string(f) + "-" + std::to_string(i);
      if (too_long) u.too_long_ids.insert(id);
      u.bytes +=
          R"({"custom_id":")" + id +
          R"(","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny","messages":[{"role":"user","content":")" +
          (too_long ? "TOO_LONG " : "") +
          std::string(std::uniform_int_distribution<size_t>(1, 2000)(rng), 'x') + "\"}]}}\n";
    }
    out.push_back(std::move(u));
  }
  Upload data;
  data.purpose = "user_data";
  data.bytes.resize(std::uniform_int_distribution<size_t>(1, 300'000)(rng));
  for (char& c : data.bytes) c = static_cast<char>(rng() & 0xff);
  out.push_back(std::move(data));
  return out;
}

// Both disks on one switch, for the whole campaign; the VFS gets a switch of its own back at the end.
struct Disks {
  std::shared_ptr<PowerSwitch> power = std::make_shared<PowerSwitch>();
  std::shared_ptr<PowerCutBlobFiles> files = std::make_shared<PowerCutBlobFiles>();
  Disks() {
    PowerCutVfs::instance().use_power(power);
    files->use_power(power);
  }
  ~Disks() { PowerCutVfs::instance().use_power(nullptr); }
  // Power back: what was not synced on either disk is gone.
  void restore() {
    PowerCutVfs::instance().restore();
    files->restore();
  }
};

Result<std::unique_ptr<BatchService>> open_service(const std::string& dir, Disks& disks,
                                                   engine::Engine& engine) {
  store::SqliteOptions sqlite;
  sqlite.vfs = "powercut";
  auto store = store::open_sqlite_store(dir + "/openbatch.sqlite3", std::move(sqlite));
  if (!store) return store.status();
  auto blobs = blobs::open_local_blob_store(dir + "/files", false, disks.files);
  if (!blobs) return blobs.status();
  BatchServiceOptions o;
  o.store = std::move(store).value();
  o.blobs = std::move(blobs).value();
  o.data_dir = dir;
  o.flush_interval = std::chrono::milliseconds(2);
  o.flush_max_results = 8;
  o.poll_interval = std::chrono::milliseconds(5);
  o.retry_interval = std::chrono::milliseconds(5);
  return BatchService::open(std::move(o), engine);
}

Result<std::string> read_content(BatchService& service, const std::string& id) {
  auto reader = service.open_file_content(kOwner, id);
  if (!reader) return reader.status();
  std::string out(static_cast<size_t>((*reader)->size()), '\0');
  auto n = (*reader)->read_at(0, out.data(), out.size());
  if (!n) return n.status();
  out.resize(*n);
  return out;
}

std::vector<store::BatchRecord> all_batches(BatchService& service) {
  store::ListQuery q;
  q.limit = 100;
  auto page = service.list_batches(kOwner, q);
  return page ? page->items : std::vector<store::BatchRecord>{};
}

bool ended(store::BatchStatus s) {
  return s == store::BatchStatus::kCompleted || s == store::BatchStatus::kFailed ||
         s == store::BatchStatus::kExpired || s == store::BatchStatus::kCancelled;
}

// Waits until every batch has ended, or the power is gone, or 20 s pass.
void wait_batches(BatchService& service, const PowerSwitch* power) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline && !(power && power->cut())) {
    bool all = true;
    for (const auto& b : all_batches(service)) all = all && ended(b.status);
    if (all) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// What one life before the cut acknowledged.
struct Acked {
  std::map<std::string, size_t> uploads;  // file id -> index in the workload
  std::set<std::string> batches;
  std::set<std::string> deleted;       // uploads whose deletion was acknowledged
  std::set<std::string> delete_tried;  // uploads whose deletion was asked
  std::set<std::string> cancelled;     // batches whose cancel was acknowledged
  bool idle = false;                   // the work came to an end before the operation the power was to go at
};

// Where a cut came, as the store tells at the reboot (before anything resumes): during the uploads,
// before any batch, or the status of the least advanced batch.
std::string point_of_cut(BatchService& service, const Acked& acked);

// Uploads, creates batches and waits for them, until the power goes; then the service dies with it.
Acked live_until_cut(const std::string& dir, Disks& disks, const std::vector<Upload>& work,
                     std::mt19937_64& rng) {
  Acked acked;
  testing::FakeEngine engine(/*auto_complete=*/true);
  auto service = open_service(dir, disks, engine);
  if (!service) return acked;
  (*service)->start();
  std::vector<std::string> inputs;
  const bool delete_data = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  for (size_t i = 0; i < work.size(); ++i) {
    auto up = (*service)->begin_upload(kOwner, "f" + std::to_string(i));
    if (!up) break;
    const size_t piece = std::uniform_int_distribution<size_t>(1000, 100'000)(rng);
    bool ok = true;
    for (size_t at = 0; ok && at < work[i].bytes.size(); at += piece)
      ok = static_cast<bool>((*up)->append(std::string_view(work[i].bytes).substr(at, piece)));
    if (!ok) break;
    auto file = (*up)->finish(work[i].purpose, std::nullopt);
    if (!file) break;
    acked.uploads[file->id] = i;
    if (work[i].purpose == "batch") inputs.push_back(file->id);
  }
  for (const std::string& input : inputs) {
    auto b = (*service)->create_batch(
        kOwner,
        {{"input_file_id", input}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
    if (!b) break;
    acked.batches.insert(b->id);
    // One batch in three is cancelled as soon as it is made (it may have ended already: a 409).
    if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
      if ((*service)->cancel_batch(kOwner, b->id)) acked.cancelled.insert(b->id);
    }
  }
  // The file of other bytes is deleted in every other life, while the batches run.
  for (const auto& [id, index] : acked.uploads) {
    if (work[index].purpose == "batch" || !delete_data) continue;
    acked.delete_tried.insert(id);  // a deletion the cut cuts short may have happened, or not
    if ((*service)->delete_file(kOwner, id)) acked.deleted.insert(id);
  }
  wait_batches(**service, disks.power.get());
  acked.idle = !disks.power->cut();
  disks.power->cut_now();  // a cut after all the work, when it came to an end before its operation
  service->reset();        // the process dies with the machine: nothing more reaches the disks
  return acked;
}

// A reboot cut too: the service resumes until the power goes again. Returns where the first cut came.
std::string resume_until_cut(const std::string& dir, Disks& disks, const Acked& acked) {
  testing::FakeEngine engine(/*auto_complete=*/true);
  auto service = open_service(dir, disks, engine);
  if (!service) return "opening";  // the second cut came while opening (the first left no trace here)
  const std::string point = point_of_cut(**service, acked);
  (*service)->start();
  wait_batches(**service, disks.power.get());
  disks.power->cut_now();
  service->reset();
  return point;
}

// The custom_ids of a results file's lines; what is not a result line goes in problem.
std::vector<std::string> custom_ids(const std::string& jsonl, std::string* problem) {
  std::vector<std::string> ids;
  size_t at = 0;
  while (at < jsonl.size()) {
    size_t end = jsonl.find('\n', at);
    if (end == std::string::npos) end = jsonl.size();
    auto line = nlohmann::json::parse(jsonl.substr(at, end - at), nullptr, false);
    at = end + 1;
    if (line.is_discarded() || !line.contains("custom_id")) {
      *problem += "a line that is not a result; ";
      continue;
    }
    ids.push_back(line["custom_id"].get<std::string>());
  }
  return ids;
}

// Reboots over what the disks hold, lets the service finish, and checks everything acknowledged.
// Returns the status the batches had at the reboot (the point the cut came at).
std::string point_of_cut(BatchService& service, const Acked& acked) {
  if (acked.idle) return "after the work";
  auto batches = all_batches(service);
  if (batches.empty()) return acked.uploads.size() < 3 ? "upload" : "create";
  const std::vector<std::string> order = {"validating", "in_progress", "finalizing", "completed"};
  size_t least = order.size() - 1;
  for (const auto& b : batches) {
    for (size_t i = 0; i < order.size(); ++i)
      if (to_string(b.status) == order[i]) least = std::min(least, i);
  }
  return order[least];
}

// Reboots over what the disks hold, lets the service finish, and checks everything acknowledged.
// Returns where the cut came (point_of_cut).
std::string reboot_and_check(const std::string& dir, Disks& disks, const std::vector<Upload>& work,
                             const Acked& acked, const std::string& where) {
  testing::FakeEngine engine(/*auto_complete=*/true);
  auto service = open_service(dir, disks, engine);
  EXPECT_TRUE(service.is_ok()) << where << ": reopening failed: " << service.status().message();
  if (!service) return "reopen failed";
  const std::string point = point_of_cut(**service, acked);
  (*service)->start();
  wait_batches(**service, nullptr);

  for (const auto& [id, index] : acked.uploads) {
    if (acked.deleted.count(id)) {
      EXPECT_FALSE((*service)->get_file(kOwner, id).is_ok()) << where << ": deleted " << id << " is back";
      continue;
    }
    if (acked.delete_tried.count(id) && !(*service)->get_file(kOwner, id).is_ok()) continue;
    auto bytes = read_content(**service, id);
    EXPECT_TRUE(bytes.is_ok()) << where << ": acknowledged upload " << id
                               << " is gone: " << bytes.status().message() << " (its record "
                               << ((*service)->get_file(kOwner, id).is_ok() ? "is" : "is not")
                               << " there, its blob "
                               << (std::filesystem::exists(dir + "/files/" + id) ? "is" : "is not") << ")";
    if (bytes) EXPECT_TRUE(*bytes == work[index].bytes) << where << ": upload " << id << " differs";
  }
  std::set<std::string> listed;
  for (const store::BatchRecord& b : all_batches(**service)) {
    listed.insert(b.id);
    const std::string at = where + ", " + b.id;
    const bool cancelled = b.status == store::BatchStatus::kCancelled;
    EXPECT_TRUE(b.status == store::BatchStatus::kCompleted || cancelled) << at << ": " << to_string(b.status);
    if (acked.cancelled.count(b.id)) EXPECT_TRUE(cancelled) << at << ": its cancel was acknowledged";
    // A batch exists only after its input was acknowledged (its create may not have been).
    auto input = acked.uploads.find(b.input_file_id);
    EXPECT_NE(input, acked.uploads.end()) << at << ": input " << b.input_file_id << " unknown";
    if (input == acked.uploads.end() || !ended(b.status)) continue;
    const Upload& u = work[input->second];
    if (cancelled && !b.in_progress_at) {
      // Cancelled while validating: no line ran, and there are no results (as OpenAI does).
      EXPECT_EQ(b.request_counts.total, 0) << at;
      EXPECT_EQ(b.output_file_id + b.error_file_id, "") << at;
      continue;
    }
    // Each input line once in the output or the error file: a response, or an error (the engine's,
    // or batch_cancelled for a line a cancel kept from running).
    std::string problem;
    std::map<std::string, int> seen;
    int64_t outputs = 0, errors = 0;
    for (const std::string& file_id : {b.output_file_id, b.error_file_id}) {
      if (file_id.empty()) continue;
      auto text = read_content(**service, file_id);
      EXPECT_TRUE(text.is_ok()) << at << ": " << file_id << ": " << text.status().message();
      if (!text) continue;
      for (const std::string& id : custom_ids(*text, &problem)) {
        ++seen[id];
        if (file_id == b.output_file_id) {
          ++outputs;
          EXPECT_EQ(u.too_long_ids.count(id), 0u) << at << ": " << id << " failed, yet is in the output file";
        } else {
          ++errors;
        }
      }
    }
    EXPECT_EQ(problem, "") << at;
    for (const auto& [id, n] : seen)
      EXPECT_EQ(n, 1) << at << ": " << id << " is in the results " << n << " times";
    EXPECT_EQ(static_cast<int64_t>(seen.size()), u.lines) << at << ": lines missing or foreign";
    if (!cancelled) EXPECT_EQ(outputs, u.lines - static_cast<int64_t>(u.too_long_ids.size())) << at;
    EXPECT_EQ(b.request_counts.total, u.lines) << at;
    EXPECT_EQ(b.request_counts.completed, outputs) << at;
    EXPECT_EQ(b.request_counts.failed, errors) << at;
    EXPECT_EQ(b.usage.input_tokens, 10 * outputs) << at;
    EXPECT_EQ(b.usage.cached_tokens, 3 * outputs) << at;
    EXPECT_EQ(b.usage.output_tokens, 5 * outputs) << at;
  }
  for (const std::string& id : acked.batches)
    EXPECT_TRUE(listed.count(id)) << where << ": acknowledged batch " << id << " is gone";

  // Every file the store lists is whole (an upload the cut did not let answer, too), and the blob
  // folder holds those files and nothing else: no orphan, no temporary.
  store::ListQuery q;
  q.limit = 100;
  auto files = (*service)->list_files(kOwner, q);
  EXPECT_TRUE(files.is_ok()) << where;
  std::set<std::string> recorded;
  for (const store::FileRecord& f : files ? files->items : std::vector<store::FileRecord>{}) {
    recorded.insert(f.id);
    auto bytes = read_content(**service, f.id);
    EXPECT_TRUE(bytes.is_ok()) << where << ": file " << f.id << " is listed but unreadable";
    if (!bytes) continue;
    EXPECT_EQ(static_cast<int64_t>(bytes->size()), f.bytes) << where << ": " << f.id;
    if (f.purpose != "batch_output") {
      const size_t index = std::stoul(f.filename.substr(1));
      EXPECT_TRUE(index < work.size() && *bytes == work[index].bytes) << where << ": " << f.id << " differs";
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/files")) {
    const std::string name = entry.path().filename().string();
    if (name == ".openbatch-folder") continue;
    EXPECT_TRUE(recorded.count(name)) << where << ": " << name << " is in the blob folder without a record";
  }
  service->reset();
  return point;
}

TEST(BatchServicePowerCutTest, NothingAcknowledgedIsLostAtAnyCutAcrossTheService) {
  const int64_t cuts = env_or("OPENBATCH_POWER_CUTS", 40);
  const int64_t seed = env_or("OPENBATCH_POWER_CUT_SEED", 24);
  Disks disks;

  const auto began = std::chrono::steady_clock::now();
  std::map<std::string, int> points;
  int64_t life_ops_sum = 0, second_cuts = 0, uploads_checked = 0, batches_checked = 0;
  for (int64_t i = 0; i < cuts; ++i) {
    const int64_t cut_seed = seed + i;
    std::mt19937_64 rng(static_cast<uint64_t>(cut_seed));
    const auto work = draw_uploads(rng);
    const uint64_t life_seed = rng();  // the life's own draws: pieces, deletes, cancels
    // The same life without a cut first: how many operations it makes, where the cut is drawn from.
    int64_t life_ops = 0;
    {
      TempDir dry;
      std::mt19937_64 life_rng(life_seed);
      disks.power->arm(0);
      ::testing::internal::CaptureStderr();
      live_until_cut(dry.path(), disks, work, life_rng);
      ::testing::internal::GetCapturedStderr();
      life_ops = std::max<int64_t>(2, disks.power->ops());
      life_ops_sum += life_ops;
      disks.restore();
    }
    const int64_t cut_at = std::uniform_int_distribution<int64_t>(1, life_ops)(rng);
    // Every other reboot is cut too, somewhere in its first part: resumes must survive cuts as well.
    const bool cut_twice = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    const int64_t second_cut_at = std::uniform_int_distribution<int64_t>(1, life_ops / 2)(rng);
    const std::string where =
        "cut " + std::to_string(i) + " at operation " + std::to_string(cut_at) +
        (cut_twice ? " and at " + std::to_string(second_cut_at) + " of the reboot" : "") +
        " (OPENBATCH_POWER_CUTS=1 OPENBATCH_POWER_CUT_SEED=" + std::to_string(cut_seed) + ")";
    TempDir dir;
    ::testing::internal::CaptureStderr();  // the service logs the failures the cut makes
    disks.power->arm(cut_at);
    std::mt19937_64 life_rng(life_seed);
    const Acked acked = live_until_cut(dir.path(), disks, work, life_rng);
    disks.restore();
    std::string point;
    if (cut_twice) {
      disks.power->arm(second_cut_at);
      point = resume_until_cut(dir.path(), disks, acked);
      disks.restore();
      ++second_cuts;
    }
    const std::string checked = reboot_and_check(dir.path(), disks, work, acked, where);
    ++points[cut_twice ? point : checked];
    const std::string log = ::testing::internal::GetCapturedStderr();
    if (HasFailure()) std::fprintf(stderr, "%s", log.c_str());
    uploads_checked += static_cast<int64_t>(acked.uploads.size());
    batches_checked += static_cast<int64_t>(acked.batches.size());
    if (HasFailure()) break;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::string where;
  for (const auto& [p, n] : points) where += " " + p + " " + std::to_string(n);
  std::printf(
      "power cuts: %lld (seed %lld, lives of %lld operations on average; %lld reboots cut again), at:%s; "
      "acknowledged uploads %lld and batches %lld all there; %.1f s\n",
      static_cast<long long>(cuts), static_cast<long long>(seed),
      static_cast<long long>(life_ops_sum / std::max<int64_t>(1, cuts)), static_cast<long long>(second_cuts),
      where.c_str(), static_cast<long long>(uploads_checked), static_cast<long long>(batches_checked),
      seconds);
}

}  // namespace
}  // namespace openbatch::batch
