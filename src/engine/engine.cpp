#include "engine/engine.h"

#include <future>

namespace openbatch::engine {

Result<Generation> generate(Engine& engine, GenerationRequest request) {
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  auto future = promise->get_future();
  GenerationCallbacks callbacks;
  callbacks.on_done = [promise](Result<Generation> result) { promise->set_value(std::move(result)); };
  engine.submit(std::move(request), std::move(callbacks));
  return future.get();
}

}  // namespace openbatch::engine
