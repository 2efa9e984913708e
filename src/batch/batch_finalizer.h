// Ending a batch: the requests that never ran get their error lines, the output and error files are
// written from the stored results, and one transaction records the files and the final status.
// Safe to repeat after a crash at any point: blobs are written before the transaction, and a blob
// whose transaction never committed has no file record (BatchService::open removes it).
#pragma once

#include <string>

#include "blobs/blobs.h"
#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

namespace openbatch::batch {

// Ends batch_id with status `to`: kCompleted (from finalizing), kCancelled (from cancelling; requests
// without a result become `batch_cancelled` error lines) or kExpired (from in_progress or cancelling;
// `batch_expired` lines). OK as well when the batch has ended already.
Status finalize_batch(store::Store& store, blobs::BlobStore& blobs, const Clock& clock,
                      const std::string& batch_id, store::BatchStatus to);

}  // namespace openbatch::batch
