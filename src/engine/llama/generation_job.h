// A generation of the embedded engine from the moment it is submitted to the moment it ends: the
// request, what was made of it off the engine thread (its rendered prompt, tokens, images and grammar)
// and the callbacks that hear of it. Internal to engine/llama/.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/llama/chat_template.h"
#include "engine/llama/sampling.h"
#include "engine/llama/vision_encoder.h"
#include "llama.h"

namespace openbatch::engine {

// A queued or running generation. Thread-safe: cancel() from any thread; the rest is set before the
// job is queued and read-only after, except `callbacks`, which only the thread that runs the job calls.
struct GenerationJob final : GenerationHandle {
  GenerationRequest request;
  GenerationCallbacks callbacks;
  std::vector<llama_token> prompt;
  ChatPrompt chat;                                 // the rendered prompt and its format
  VisionPrompt vision;                             // the images of the prompt, when it has any
  std::shared_ptr<const CompiledGrammar> grammar;  // enforces the response_format; null for free text
  std::atomic<bool> cancelled{false};

  void cancel() override { cancelled.store(true); }
};

}  // namespace openbatch::engine
