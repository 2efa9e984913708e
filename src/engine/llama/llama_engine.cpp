// The engine's requests: what happens on the caller's thread (rendering, tokenising, compiling the
// grammar) before a job is queued for the contexts (sequence_scheduler.h). Loading is in
// llama_engine_loader.cpp.
#include "engine/llama/llama_engine.h"

#include <algorithm>

#include "engine/llama/llama_engine_impl.h"
#include "engine/llama/prompt.h"
#include "engine/llama/raw_prompt.h"

namespace openbatch::engine {

LlamaEngine::Impl::~Impl() {
  embedder.reset();
  vision.reset();
  contexts.clear();
  if (model) llama_model_free(model);
}

Status LlamaEngine::Impl::check_prompt_length(size_t n_tokens) const {
  if (static_cast<int>(n_tokens) < info.context_per_sequence) return Status::ok();
  return Status::invalid_request(
      "This model's maximum context length is " + std::to_string(info.context_per_sequence) +
          " tokens. However, your messages resulted in " + std::to_string(n_tokens) +
          " tokens. Please reduce the length of the messages.",
      "messages", "context_length_exceeded");
}

Result<ChatPrompt> LlamaEngine::Impl::render(const GenerationRequest& request) const {
  if (request.raw_prompt) return raw_chat_prompt(*request.raw_prompt);
  return chat_template->render(request, vision ? vision->marker() : std::string());
}

Result<std::vector<llama_token>> LlamaEngine::Impl::request_tokens(const GenerationRequest& request,
                                                                   const ChatPrompt& chat) const {
  if (!request.raw_prompt) {
    auto tokens = tokenize(vocab, chat.text);
    if (Status s = check_prompt_length(tokens.size()); !s) return s;
    return tokens;
  }
  auto tokens = raw_prompt_tokens(vocab, *request.raw_prompt);
  if (!tokens) return tokens.status();
  if (static_cast<int>(tokens->size()) >= info.context_per_sequence) {
    return Status::invalid_request("This model's maximum context length is " +
                                       std::to_string(info.context_per_sequence) +
                                       " tokens. However, your prompt has " + std::to_string(tokens->size()) +
                                       " tokens. Please reduce the prompt.",
                                   "prompt", "context_length_exceeded");
  }
  return tokens;
}

Result<VisionPrompt> LlamaEngine::Impl::vision_prompt(const ChatPrompt& chat) const {
  if (!vision) return images_not_supported(info);
  auto prompt = vision->tokenize(chat.text, chat.images);
  if (!prompt) return prompt.status();
  if (Status s = check_prompt_length(prompt->tokens.size()); !s) return s;
  // The last prompt token is decoded for the first generated token's logits: it must be text.
  if (prompt->tokens.empty() || prompt->tokens.back() < 0) {
    return Status::internal("the chat template ends the prompt with an image");
  }
  return prompt;
}

LlamaEngine::LlamaEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LlamaEngine::~LlamaEngine() { shutdown(); }

const ModelInfo& LlamaEngine::model_info() const { return impl_->info; }

Result<int> LlamaEngine::count_prompt_tokens(const GenerationRequest& request) {
  auto chat = impl_->render(request);
  if (!chat) return chat.status();
  if (has_images(request.messages)) {
    auto prompt = impl_->vision_prompt(*chat);
    if (!prompt) return prompt.status();
    return static_cast<int>(prompt->tokens.size());
  }
  auto tokens = impl_->request_tokens(request, *chat);
  if (!tokens) return tokens.status();
  return static_cast<int>(tokens->size());
}

std::shared_ptr<GenerationHandle> LlamaEngine::submit(GenerationRequest request,
                                                      GenerationCallbacks callbacks) {
  auto job = std::make_shared<GenerationJob>();
  const bool images = has_images(request.messages);
  job->request = std::move(request);
  // Rendering, tokenising and compiling the grammar happen here, on the caller's thread, off the
  // engine loop (tokenising a prompt with images, on the vision worker). The rendered prompt points
  // into job->request's messages, which stay where they are from here on.
  auto chat = impl_->render(job->request);
  if (!chat) {
    callbacks.on_done(chat.status());
    return job;
  }
  job->chat = std::move(chat).value();
  if (!images) {
    auto tokens = impl_->request_tokens(job->request, job->chat);
    if (!tokens) {
      callbacks.on_done(tokens.status());
      return job;
    }
    job->prompt = std::move(tokens).value();
  }
  auto grammar = prepare_sampling(impl_->vocab, job->request, job->chat);
  if (!grammar) {
    callbacks.on_done(grammar.status());
    return job;
  }
  job->grammar = std::move(grammar).value();
  job->callbacks = std::move(callbacks);
  if (images) {
    impl_->submit_with_images(job);
  } else {
    impl_->enqueue(job);
  }
  return job;
}

void LlamaEngine::Impl::enqueue(std::shared_ptr<GenerationJob> job) {
  if (!queue->push(job)) job->callbacks.on_done(shutting_down());
}

// The job's hold on the encoder's budget ends with the job (on_done) or once its images are decoded.
void LlamaEngine::Impl::submit_with_images(std::shared_ptr<GenerationJob> job) {
  if (!vision) return job->callbacks.on_done(images_not_supported(info));
  vision->post(job->request.priority, [this, job](bool run) {
    auto fail = [&](const Status& s) {
      auto callbacks = std::move(job->callbacks);
      callbacks.on_done(s);
    };
    if (!run) return fail(shutting_down());
    if (job->cancelled.load()) return fail(request_cancelled());
    auto prompt = vision_prompt(job->chat);
    if (!prompt) return fail(prompt.status());
    if (Status s = vision->encode(*prompt); !s) return fail(s);
    job->prompt = std::move(prompt->tokens);
    job->vision = std::move(prompt).value();
    auto on_done = std::move(job->callbacks.on_done);
    job->callbacks.on_done = [hold = job->vision.hold, on_done = std::move(on_done)](Result<Generation> r) {
      hold->release();
      on_done(std::move(r));
    };
    enqueue(job);
  });
}

void LlamaEngine::embed(EmbeddingRequest request, EmbeddingsDone done) {
  Embedder* embedder = nullptr;
  {
    std::lock_guard lock(impl_->embedder_mu);
    if (!impl_->embedder) {
      EmbedderOptions o;
      o.threads = impl_->threads;
      auto made = Embedder::create(impl_->model, o);
      if (!made) return done(made.status());
      impl_->embedder = std::move(made).value();
    }
    embedder = impl_->embedder.get();
  }
  embedder->submit(std::move(request), std::move(done));
}

void LlamaEngine::shutdown() {
  {
    std::lock_guard lock(impl_->embedder_mu);
    if (impl_->embedder) impl_->embedder->shutdown();
  }
  const bool joined = std::none_of(impl_->contexts.begin(), impl_->contexts.end(),
                                   [](const auto& c) { return c->running(); });
  if (impl_->queue->stop() && joined) return;
  for (auto& context : impl_->contexts) context->join();
  if (impl_->vision) impl_->vision->shutdown();
}

}  // namespace openbatch::engine
