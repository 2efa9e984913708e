// Where `serve` keeps files and batches, and the batch service on them: part of the composition root.
// The options name a store (SQLite in a data folder, or a PostgreSQL database shared by a fleet), where
// file bytes go, and the webhook receiver; open_batch_service opens each and hands them to
// batch::BatchService.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "batch/batch_service.h"
#include "common/status.h"
#include "engine/engine.h"
#include "openai/limits.h"

namespace openbatch::cli {

struct BatchStorageOptions {
  std::string data_dir = "./openbatch-data";
  // The metadata store: "" keeps it in data_dir (SQLite, this process alone); postgresql://... shares
  // one PostgreSQL database among many nodes (file bytes too, unless files_dir says where they go).
  std::string db;
  std::string files_dir;      // file bytes in this directory (shared by the nodes); "": data_dir or db
  double lease_seconds = 30;  // how long a node's claim on requests holds without renewal
  int64_t completion_window_seconds = 24 * 3600;  // what "24h" means; tests shorten it
  // Webhooks: batch.completed, batch.failed, batch.expired and batch.cancelled posted to webhook_url
  // ("" = none), signed with webhook_secret ("whsec_..."); loopback and private addresses only with
  // webhook_allow_private.
  std::string webhook_url;
  std::string webhook_secret;
  bool webhook_allow_private = false;
};

// OK when the webhook options are usable (a secret with a URL, an http(s) URL whose address is allowed,
// a whsec_ secret); the problem otherwise, naming the flag.
Status check_webhook_options(const BatchStorageOptions& options);

// Opens the store, the blobs and the webhook transport that options name, and the batch service on
// them, running its requests on engine for the given API keys under limits. Not started (start() resumes
// the unfinished batches). REQUIRES: engine outlives the service.
Result<std::unique_ptr<batch::BatchService>> open_batch_service(const BatchStorageOptions& options,
                                                                std::vector<std::string> api_keys,
                                                                const openai::Limits& limits,
                                                                engine::Engine& engine);

}  // namespace openbatch::cli
