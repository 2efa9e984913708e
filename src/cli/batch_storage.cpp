#include "cli/batch_storage.h"

#include "blobs/blobs.h"
#include "net/destination_policy.h"
#include "store/store.h"
#include "webhooks/curl_webhook_transport.h"
#include "webhooks/webhook_signature.h"
#include "webhooks/webhook_url.h"

namespace openbatch::cli {

Status check_webhook_options(const BatchStorageOptions& options) {
  if (options.webhook_url.empty()) {
    if (!options.webhook_secret.empty())
      return Status::invalid_request("--webhook-secret needs --webhook-url");
    return Status::ok();
  }
  if (options.webhook_secret.empty()) {
    return Status::invalid_request(
        "--webhook-url needs a secret to sign the events with: --webhook-secret whsec_... or "
        "$OPENBATCH_WEBHOOK_SECRET");
  }
  if (auto key = webhooks::decode_webhook_secret(options.webhook_secret); !key) {
    return Status::invalid_request("--webhook-secret: " + key.status().message());
  }
  net::DestinationPolicy policy;
  policy.allow_private = options.webhook_allow_private;
  return webhooks::check_webhook_url(options.webhook_url, policy);
}

Result<std::unique_ptr<batch::BatchService>> open_batch_service(const BatchStorageOptions& options,
                                                                std::vector<std::string> api_keys,
                                                                const openai::Limits& limits,
                                                                engine::Engine& engine) {
  batch::BatchServiceOptions o;
  o.data_dir = options.data_dir;
  o.api_keys = std::move(api_keys);
  o.limits = limits;
  o.completion_window_seconds = options.completion_window_seconds;
  o.lease_duration = std::chrono::milliseconds(static_cast<int64_t>(options.lease_seconds * 1000));
  store::StoreOptions store_options;
  if (!options.webhook_url.empty()) {
    if (Status s = check_webhook_options(options); !s) return s;
    o.webhooks.url = options.webhook_url;
    o.webhooks.key = *webhooks::decode_webhook_secret(options.webhook_secret);
    webhooks::CurlTransportOptions transport;
    transport.destinations.allow_private = options.webhook_allow_private;
    o.webhook_transport = webhooks::make_curl_webhook_transport(transport);
    store_options.batch_events = true;
  }
  const bool shared = store::is_postgres_url(options.db);
  if (!options.db.empty()) {
    auto store = store::open_store(options.db, store_options);
    if (!store) return store.status();
    o.store = std::move(store).value();
  }
  if (!options.files_dir.empty()) {
    auto blobs = blobs::open_local_blob_store(blobs::blob_folder_in(options.files_dir), shared);
    if (!blobs) return blobs.status();
    o.blobs = std::move(blobs).value();
  } else if (shared) {
    auto blobs = blobs::open_postgres_blob_store(options.db);
    if (!blobs) return blobs.status();
    o.blobs = std::move(blobs).value();
  }
  return batch::BatchService::open(std::move(o), engine);
}

}  // namespace openbatch::cli
