// The limits of the Files and Batches APIs, in one place: what the server enforces on uploads, batch
// inputs and create bodies. OpenAI's own values by default; the server's options may change the first
// three (tests shorten them) and set the enqueued-token limit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace openbatch::openai {

struct Limits {
  int64_t max_batch_requests = 50000;           // lines of one batch input (validation fails above)
  int64_t max_batch_input_bytes = 200LL << 20;  // bytes of one batch input (validation fails above)
  int64_t max_upload_bytes = 512LL << 20;       // bytes of one upload (the upload fails above)
  size_t max_metadata_pairs = 16;               // metadata of a batch
  size_t max_metadata_key_chars = 64;
  size_t max_metadata_value_chars = 512;
  int64_t min_expires_after_seconds = 3600;              // expires_after / output_expires_after: one hour
  int64_t max_expires_after_seconds = 30LL * 24 * 3600;  // to 30 days
  // The prompt tokens an owner's unfinished batches may hold together (serve --max-enqueued-tokens);
  // a batch that would pass it fails validation with token_limit_exceeded. 0: no limit.
  int64_t max_enqueued_tokens = 0;
  // The bytes an owner's files (uploads, and the output and error files of its batches) may take
  // together (serve --max-stored-mb-per-key); past it uploads and new batches are refused (400
  // storage_limit_exceeded). Outputs of batches already running are always written. 0: no limit.
  int64_t max_stored_bytes_per_owner = 0;

  // The largest upload accepted: never less than a batch input.
  int64_t largest_upload() const {
    return max_upload_bytes > max_batch_input_bytes ? max_upload_bytes : max_batch_input_bytes;
  }
};

}  // namespace openbatch::openai
