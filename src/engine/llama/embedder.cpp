#include "engine/llama/embedder.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "engine/llama/prompt.h"

namespace openbatch::engine {

namespace {

struct Job {
  std::vector<std::vector<llama_token>> inputs;
  Embeddings result;
  size_t next = 0;  // inputs before it are embedded
  EmbeddingsDone done;
};

}  // namespace

struct Embedder::Impl {
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  llama_context* ctx = nullptr;
  EmbedderOptions options;
  int n_embd = 0;
  llama_batch batch{};

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue[2];  // by Priority
  bool stopping = false;
  std::thread thread;

  ~Impl() {
    if (batch.token) llama_batch_free(batch);
    if (ctx) llama_free(ctx);
  }

  // Decodes the next inputs of job (as many as fit one step) and stores their vectors.
  Status step(Job& job) {
    batch.n_tokens = 0;
    int32_t seqs = 0;
    size_t first = job.next;
    while (job.next < job.inputs.size() && seqs < options.max_sequences) {
      const auto& tokens = job.inputs[job.next];
      if (seqs > 0 && batch.n_tokens + static_cast<int32_t>(tokens.size()) > options.max_tokens) break;
      for (size_t i = 0; i < tokens.size(); ++i) {
        const int32_t k = batch.n_tokens++;
        batch.token[k] = tokens[i];
        batch.pos[k] = static_cast<llama_pos>(i);
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = seqs;
        batch.logits[k] = 1;
      }
      ++seqs;
      ++job.next;
    }
    llama_memory_clear(llama_get_memory(ctx), true);
    const int32_t rc = llama_model_has_encoder(model) ? llama_encode(ctx, batch) : llama_decode(ctx, batch);
    if (rc != 0)
      return Status::internal("llama.cpp could not embed the inputs (error " + std::to_string(rc) + ")");
    for (int32_t s = 0; s < seqs; ++s) {
      const float* e = llama_get_embeddings_seq(ctx, s);
      if (!e) return Status::internal("llama.cpp returned no pooled embedding");
      std::vector<float> v(e, e + n_embd);
      scale_to_unit_length(v);
      job.result.vectors.push_back(std::move(v));
      job.result.prompt_tokens += static_cast<int>(job.inputs[first + s].size());
    }
    return Status::ok();
  }

  void loop() {
    while (true) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !queue[0].empty() || !queue[1].empty(); });
        if (stopping) return;
        auto& q = queue[0].empty() ? queue[1] : queue[0];
        job = q.front();
        q.pop_front();
      }
      // One request at a time, all its inputs: an interactive call waits for at most one step of
      // a batch request's inputs.
      Status s;
      while (s && job->next < job->inputs.size()) s = step(*job);
      if (s) {
        job->done(std::move(job->result));
      } else {
        job->done(s);
      }
    }
  }
};

Embedder::Embedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Embedder::~Embedder() { shutdown(); }

Result<std::unique_ptr<Embedder>> Embedder::create(llama_model* model, const EmbedderOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->model = model;
  impl->vocab = llama_model_get_vocab(model);
  impl->options = options;
  impl->options.max_tokens = std::min(options.max_tokens, llama_model_n_ctx_train(model));
  impl->n_embd = llama_model_n_embd(model);
  auto make_context = [&](enum llama_pooling_type pooling) {
    llama_context_params cparams = llama_context_default_params();
    cparams.embeddings = true;
    cparams.pooling_type = pooling;
    cparams.n_ctx = static_cast<uint32_t>(impl->options.max_tokens);
    cparams.n_batch = cparams.n_ctx;
    // A non-causal model (BERT-style) must see an input in one ubatch; their contexts are short. A
    // causal one splits a long input, which bounds the compute buffers.
    cparams.n_ubatch = std::min<uint32_t>(cparams.n_ctx, 2048);
    cparams.n_seq_max = static_cast<uint32_t>(options.max_sequences);
    cparams.kv_unified = true;  // the inputs of a step share the cells
    cparams.n_threads = options.threads;
    cparams.n_threads_batch = options.threads;
    cparams.no_perf = true;
    return llama_init_from_model(model, cparams);
  };
  impl->ctx = make_context(LLAMA_POOLING_TYPE_UNSPECIFIED);
  if (impl->ctx && llama_pooling_type(impl->ctx) == LLAMA_POOLING_TYPE_NONE) {
    llama_free(impl->ctx);
    impl->ctx = make_context(LLAMA_POOLING_TYPE_MEAN);
  }
  if (!impl->ctx) return Status::internal("cannot create a llama context for embeddings (out of memory?)");
  impl->batch = llama_batch_init(impl->options.max_tokens, 0, 1);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<Embedder>(new Embedder(std::move(impl)));
}

void Embedder::submit(EmbeddingRequest request, EmbeddingsDone done) {
  auto job = std::make_shared<Job>();
  job->done = std::move(done);
  const int vocab_size = llama_vocab_n_tokens(impl_->vocab);
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    EmbeddingInput& in = request.inputs[i];
    std::vector<llama_token> tokens;
    if (!in.tokens.empty()) {
      for (int32_t t : in.tokens) {
        if (t < 0 || t >= vocab_size) {
          return job->done(Status::invalid_request("Invalid token id " + std::to_string(t) + " in input " +
                                                       std::to_string(i) + ": the vocabulary has " +
                                                       std::to_string(vocab_size) + " tokens.",
                                                   "input", "invalid_value"));
        }
      }
      tokens.assign(in.tokens.begin(), in.tokens.end());
    } else {
      tokens = tokenize_input(impl_->vocab, in.text);
    }
    if (tokens.empty()) {
      return job->done(Status::invalid_request("Input " + std::to_string(i) + " has no tokens.", "input",
                                               "invalid_value"));
    }
    if (static_cast<int>(tokens.size()) > impl_->options.max_tokens) {
      return job->done(Status::invalid_request(
          "This model's maximum context length is " + std::to_string(impl_->options.max_tokens) +
              " tokens, however you requested " + std::to_string(tokens.size()) + " tokens in input " +
              std::to_string(i) + ". Please reduce your prompt.",
          "input", "context_length_exceeded"));
    }
    job->inputs.push_back(std::move(tokens));
  }
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->queue[static_cast<int>(request.priority)].push_back(job);
      impl_->cv.notify_one();
      return;
    }
  }
  job->done(shutting_down());
}

void Embedder::shutdown() {
  std::deque<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    for (auto& q : impl_->queue) {
      waiting.insert(waiting.end(), q.begin(), q.end());
      q.clear();
    }
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& job : waiting) job->done(shutting_down());
}

}  // namespace openbatch::engine
