// Samples of a batch's progress (store/store.h): its counts and usage over time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class ProgressStore {
 public:
  virtual ~ProgressStore() = default;

  // Records the batch's request counts and usage as stored now, at time at_ms; a sample already at
  // at_ms is replaced. NotFound for an unknown batch.
  virtual Status sample_progress(const std::string& batch_id, int64_t at_ms) = 0;
  // The batch's samples with at_ms > after_ms, oldest first. Samples stay after the batch has ended.
  virtual Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                               int64_t after_ms) = 0;
};

}  // namespace openbatch::store
