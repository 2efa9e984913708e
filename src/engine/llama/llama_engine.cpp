#include "engine/llama/llama_engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "engine/llama/chat_template.h"
#include "engine/llama/embedder.h"
#include "engine/llama/parallelism.h"
#include "engine/llama/prefix_planner.h"
#include "engine/llama/prompt.h"
#include "engine/llama/raw_prompt.h"
#include "engine/llama/sampling.h"
#include "engine/llama/text_stream.h"
#include "engine/llama/vision_encoder.h"
#include "llama.h"

namespace openbatch::engine {

namespace {

// A queued or running generation.
struct Job final : GenerationHandle {
  GenerationRequest request;
  GenerationCallbacks callbacks;
  std::vector<llama_token> prompt;
  ChatPrompt chat;                                 // the rendered prompt and its format
  VisionPrompt vision;                             // the images of the prompt, when it has any
  std::shared_ptr<const CompiledGrammar> grammar;  // enforces the response_format; null for free text
  std::atomic<bool> cancelled{false};

  void cancel() override { cancelled.store(true); }
};

enum class SlotState { kIdle, kPrefill, kGenerate };

// One sequence of the context. Between jobs it remembers the tokens whose KV it still holds.
struct Slot {
  llama_seq_id seq = 0;
  SlotState state = SlotState::kIdle;
  std::shared_ptr<Job> job;
  std::vector<llama_token> cached;  // tokens whose KV cells this sequence holds, in position order
  size_t linked = 0;                // cached[0, linked) are read in place from the shared prefix sequence
                                    // (cascade attention), not held in this sequence's own KV stream
  size_t prompt_done = 0;           // prompt tokens already in the KV
  std::unique_ptr<RequestSampler> sampler;
  std::unique_ptr<TextStream> text;
  std::unique_ptr<MessageStream> message;  // while streaming: the text read as answer, thinking, calls
  bool thinking = false;                   // the model is inside its thinking block
  bool thinking_done = false;              // it has left it, or never opened one
  std::vector<llama_token> pending;        // generated (drawn or forced by the grammar), not yet decoded
  int batch_index = -1;                    // where this slot's logits are in the current batch, -1: none
  llama_token drawn = -1;                  // this step's drawn token
  Generation result;
};

// Copying a prefix's KV from another sequence costs a copy of that sequence's whole KV stream; below
// this many tokens computing them again is about as cheap.
constexpr size_t kMinCopyTokens = 64;

void quiet_log(ggml_log_level level, const char* text, void* /*user*/) {
  if (level >= GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_CONT) std::fputs(text, stderr);
}

}  // namespace

void set_llama_log_level_warn() {
  llama_log_set(quiet_log, nullptr);
  set_mtmd_log_level_warn();
}

struct LlamaEngine::Impl {
  LlamaEngineOptions options;
  ModelInfo info;
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  std::unique_ptr<ChatTemplate> chat_template;
  ByteTokens bytes;
  size_t sampling_threads = 1;
  int threads = 1;                        // CPU threads of the engine (a decode's while it runs alone)
  std::unique_ptr<VisionEncoder> vision;  // null without a projector
  std::mutex embedder_mu;
  std::unique_ptr<Embedder> embedder;  // made by the first embedding request
  // The contexts (load_plan.h): each takes queued jobs when it has a free sequence (see idle_slots).
  std::vector<std::unique_ptr<Replica>> replicas;
  // Each replica's idle sequences, as it last counted them (every replica has the same number). Jobs
  // fill the first replica with one first: a lone client's next request finds its conversation's KV
  // where the last one left it; a replica with fewer than all idle is busy.
  std::unique_ptr<std::atomic<int>[]> idle_slots;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queues[2];  // indexed by Priority
  bool stopping = false;

  ~Impl();

  Status check_prompt_length(size_t n_tokens) const {
    if (static_cast<int>(n_tokens) < info.context_per_sequence) return Status::ok();
    return Status::invalid_request(
        "This model's maximum context length is " + std::to_string(info.context_per_sequence) +
            " tokens. However, your messages resulted in " + std::to_string(n_tokens) +
            " tokens. Please reduce the length of the messages.",
        "messages", "context_length_exceeded");
  }

  Result<ChatPrompt> render(const GenerationRequest& request) const {
    if (request.raw_prompt) return raw_chat_prompt(*request.raw_prompt);
    return chat_template->render(request, vision ? vision->marker() : std::string());
  }

  // The tokens of a request without images: its raw prompt's, or its rendered chat's.
  Result<std::vector<llama_token>> request_tokens(const GenerationRequest& request,
                                                  const ChatPrompt& chat) const {
    if (!request.raw_prompt) return prompt_tokens(chat);
    auto tokens = raw_prompt_tokens(vocab, *request.raw_prompt);
    if (!tokens) return tokens.status();
    if (static_cast<int>(tokens->size()) >= info.context_per_sequence) {
      return Status::invalid_request(
          "This model's maximum context length is " + std::to_string(info.context_per_sequence) +
              " tokens. However, your prompt has " + std::to_string(tokens->size()) +
              " tokens. Please reduce the prompt.",
          "prompt", "context_length_exceeded");
    }
    return tokens;
  }

  Result<std::vector<llama_token>> prompt_tokens(const ChatPrompt& chat) const {
    auto tokens = tokenize(vocab, chat.text);
    if (Status s = check_prompt_length(tokens.size()); !s) return s;
    return tokens;
  }

  // Tokens and images of a prompt with images (images count as the positions they take).
  Result<VisionPrompt> vision_prompt(const ChatPrompt& chat) const {
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

  // The text of a generated token; the format's own tags (preserved tokens) are text too.
  std::string piece_of(const Job& job, llama_token token) const {
    const auto& keep = job.chat.preserved_tokens;
    if (!keep.empty() && std::find(keep.begin(), keep.end(), token) != keep.end()) {
      return token_piece(vocab, token, /*special=*/true);
    }
    return token_piece(vocab, token);
  }

  void enqueue(std::shared_ptr<Job> job);
  void submit_with_images(std::shared_ptr<Job> job);
};

// One llama.cpp context over the engine's model: its sequences, its batch and the thread that runs
// continuous batching on them, taking jobs from the engine's queues. The references name what all
// replicas share.
struct LlamaEngine::Replica {
  explicit Replica(Impl& engine)
      : e(engine),
        options(engine.options),
        info(engine.info),
        vocab(engine.vocab),
        bytes(engine.bytes),
        vision(engine.vision),
        sampling_threads(engine.sampling_threads),
        mu(engine.mu),
        cv(engine.cv),
        queues(engine.queues),
        stopping(engine.stopping) {}
  ~Replica() {
    if (batch.token) llama_batch_free(batch);
    if (ctx) llama_free(ctx);
  }

  Impl& e;
  const LlamaEngineOptions& options;
  const ModelInfo& info;
  const llama_vocab* const& vocab;
  const ByteTokens& bytes;
  const std::unique_ptr<VisionEncoder>& vision;
  const size_t& sampling_threads;
  std::mutex& mu;
  std::condition_variable& cv;
  std::deque<std::shared_ptr<Job>> (&queues)[2];
  bool& stopping;  // guarded by mu

  llama_context* ctx = nullptr;
  int index = 0;        // in e.replicas
  int threads = 1;      // CPU threads of a decode while other replicas decode too
  int threads_now = 1;  // what the context decodes on now
  std::vector<Slot> slots;
  llama_batch batch{};
  // Cascade attention: one more sequence holds a prefix many requests share (the batch's system
  // prompt); linked sequences attend to it where it is, all in one matrix product per step.
  bool cascade = false;
  llama_seq_id prefix_seq = -1;
  std::vector<llama_token> prefix_tokens;  // what prefix_seq holds
  std::thread thread;

  void loop();
  void count_idle();
  bool earlier_replica_has_room() const;
  bool another_replica_busy() const;
  void decode_images();
  void admit_jobs();
  AdmissionInputs admission_inputs(const Job& job, bool with_cascade) const;
  void copy_prefix(const Slot& from, Slot& to, size_t n, const VisionPrompt& layout);
  void start_planned(std::shared_ptr<Job> job, const Admission& plan);
  bool start_linked(std::shared_ptr<Job>& job, const Admission& plan);
  void forget(Slot& slot);
  void start_job(Slot& slot, std::shared_ptr<Job> job);
  bool build_batch();
  void draw_tokens();
  void after_decode();
  std::string jump_forward(Slot& slot);
  void count_reasoning(Slot& slot) const;
  void finish(Slot& slot, Result<Generation> result);
  void fail_all(const Status& status);
  std::string piece_of(const Job& job, llama_token token) const { return e.piece_of(job, token); }
};

LlamaEngine::Impl::~Impl() {
  embedder.reset();
  vision.reset();
  replicas.clear();
  if (model) llama_model_free(model);
}

LlamaEngine::LlamaEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LlamaEngine::~LlamaEngine() { shutdown(); }

Result<std::unique_ptr<LlamaEngine>> LlamaEngine::load(const LlamaEngineOptions& options) {
  static std::once_flag backend_once;
  std::call_once(backend_once, [] { llama_backend_init(); });

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = options.gpu_layers < 0 ? 999 : options.gpu_layers;
  impl->model = llama_model_load_from_file(options.model_path.c_str(), mparams);
  if (!impl->model) return Status::internal("cannot load model " + options.model_path);
  impl->vocab = llama_model_get_vocab(impl->model);
  impl->bytes = ByteTokens::of(impl->vocab);
  impl->sampling_threads = options.sampling_threads > 0
                               ? static_cast<size_t>(options.sampling_threads)
                               : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  const std::string model_name = std::filesystem::path(options.model_path).filename().string();
  auto chat_template = ChatTemplate::load(impl->model, model_name, options.chat_template);
  if (!chat_template) return chat_template.status();
  impl->chat_template = std::move(chat_template).value();

  LoadPlanInputs plan_in;
  plan_in.parallel = options.parallel;
  plan_in.ctx_size = options.ctx_size;
  plan_in.threads = options.threads;
  plan_in.batch_size = options.batch_size;
  plan_in.cascade = options.cascade;
  plan_in.n_ctx_train = llama_model_n_ctx_train(impl->model);
  plan_in.gpu = options.gpu_layers != 0 && llama_supports_gpu_offload();
  if (options.parallel <= 0) plan_in.free_memory = free_memory_for_kv(plan_in.gpu);
  plan_in.kv_bytes_per_token = kv_bytes_per_token(impl->model);
  plan_in.weight_bytes = llama_model_size(impl->model);
  const int rope_type = llama_model_rope_type(impl->model);
  plan_in.mrope = rope_type == LLAMA_ROPE_TYPE_MROPE || rope_type == LLAMA_ROPE_TYPE_IMROPE;
  if (plan_in.mrope && options.cascade == CascadeAttention::kOn) {
    return Status::invalid_request(
        "--cascade on: cascade attention gives every prefix token one position, and " + model_name +
        " uses M-RoPE (an image spans fewer positions than tokens); use --cascade auto or off");
  }
  plan_in.hardware_threads = std::thread::hardware_concurrency();
  plan_in.data_parallel = options.data_parallel;
  plan_in.vision = !options.mmproj_path.empty();
  const LoadPlan plan = plan_load(plan_in);
  const int parallel = plan.parallel;
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = plan.n_ctx;
  cparams.n_seq_max = static_cast<uint32_t>(plan.n_seq);
  // Cascade attention is built on the transposed V cache of the non-flash path; on a CPU the two
  // measure the same at these context lengths.
  if (plan.cascade) cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cparams.n_batch = plan.n_batch;
  cparams.n_ubatch = cparams.n_batch;
  cparams.kv_unified = plan.kv_unified;
  const int threads = plan.threads;
  cparams.n_threads = threads;
  cparams.n_threads_batch = threads;
  cparams.no_perf = true;
  impl->threads = plan.threads_alone;
  impl->idle_slots = std::make_unique<std::atomic<int>[]>(static_cast<size_t>(plan.contexts));
  for (int r = 0; r < plan.contexts; ++r) {
    impl->idle_slots[r].store(parallel);
    auto replica = std::make_unique<Replica>(*impl);
    replica->index = r;
    replica->ctx = llama_init_from_model(impl->model, cparams);
    if (!replica->ctx) return Status::internal("cannot create a llama context (out of memory?)");
    replica->threads = plan.threads;
    replica->threads_now = threads;
    replica->cascade = plan.cascade;
    replica->slots.resize(parallel);
    for (int i = 0; i < parallel; ++i) replica->slots[i].seq = i;
    // The last id: requests keep ids 0..parallel-1, consecutive as llama.cpp wants them in one ubatch.
    if (replica->cascade) replica->prefix_seq = parallel;
    replica->batch = llama_batch_init(static_cast<int32_t>(cparams.n_batch), 0, 1);
    impl->replicas.push_back(std::move(replica));
  }

  impl->info.id = options.model_ids.empty() ? std::filesystem::path(options.model_path).stem().string()
                                            : options.model_ids.front();
  for (size_t i = 1; i < options.model_ids.size(); ++i) impl->info.aliases.push_back(options.model_ids[i]);
  // A unified buffer lets one sequence take every cell: each stays within its share.
  impl->info.context_per_sequence =
      std::min(plan.ctx_per_sequence, static_cast<int>(llama_n_ctx_seq(impl->replicas.front()->ctx)));
  if (!options.mmproj_path.empty()) {
    VisionOptions vopts;
    vopts.mmproj_path = options.mmproj_path;
    vopts.threads = plan.threads_alone;
    vopts.use_gpu = options.gpu_layers != 0;
    vopts.max_encoded_waiting = std::max(8, 2 * parallel * plan.contexts);
    auto vision = VisionEncoder::load(vopts, impl->model);
    if (!vision) return vision.status();
    impl->vision = std::move(vision).value();
    impl->info.has_vision = true;
  }
  impl->info.parallel = parallel * plan.contexts;
  impl->info.contexts = plan.contexts;
  impl->info.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();

  for (auto& replica : impl->replicas) {
    Replica* raw = replica.get();
    replica->thread = std::thread([raw] { raw->loop(); });
  }
  return std::unique_ptr<LlamaEngine>(new LlamaEngine(std::move(impl)));
}

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
  auto job = std::make_shared<Job>();
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

void LlamaEngine::Impl::enqueue(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!stopping) {
      queues[static_cast<int>(job->request.priority)].push_back(job);
      job.reset();
    }
  }
  if (job) {
    job->callbacks.on_done(shutting_down());
    return;
  }
  cv.notify_all();  // the replica it belongs to (earlier_replica_has_room) may not be the one woken first
}

// Tokenises the prompt and encodes its images on the vision worker, then queues the job. The job's
// hold on the encoder's budget ends with the job (on_done) or once its images are decoded.
void LlamaEngine::Impl::submit_with_images(std::shared_ptr<Job> job) {
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
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    const bool joined = std::none_of(impl_->replicas.begin(), impl_->replicas.end(),
                                     [](const auto& r) { return r->thread.joinable(); });
    if (impl_->stopping && joined) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& replica : impl_->replicas) {
    if (replica->thread.joinable()) replica->thread.join();
  }
  if (impl_->vision) impl_->vision->shutdown();
}

void LlamaEngine::Replica::count_idle() {
  const int idle = static_cast<int>(
      std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return s.state == SlotState::kIdle; }));
  const int before = e.idle_slots[index].exchange(idle);
  if (before > 0 && idle == 0) {
    // Full now: the next replica takes what is queued.
    std::lock_guard<std::mutex> lock(mu);
    if (!queues[0].empty() || !queues[1].empty()) cv.notify_all();
  }
}

bool LlamaEngine::Replica::earlier_replica_has_room() const {
  for (int r = 0; r < index; ++r) {
    if (e.idle_slots[r].load() > 0) return true;
  }
  return false;
}

bool LlamaEngine::Replica::another_replica_busy() const {
  for (int r = 0; r < static_cast<int>(e.replicas.size()); ++r) {
    if (r != index && e.idle_slots[r].load() < static_cast<int>(slots.size())) return true;
  }
  return false;
}

void LlamaEngine::Replica::loop() {
  while (true) {
    count_idle();  // before waiting idle
    {
      std::unique_lock<std::mutex> lock(mu);
      auto busy = [&] {
        return std::any_of(slots.begin(), slots.end(),
                           [](const Slot& s) { return s.state != SlotState::kIdle; });
      };
      cv.wait(lock, [&] {
        return stopping || busy() ||
               ((!queues[0].empty() || !queues[1].empty()) && !earlier_replica_has_room());
      });
      if (stopping) break;
    }
    admit_jobs();
    count_idle();
    if (vision) decode_images();
    if (!build_batch()) continue;
    // Every thread while the other replicas are idle, its share while they decode too.
    const int n_threads = another_replica_busy() ? threads : e.threads;
    if (n_threads != threads_now) {
      llama_set_n_threads(ctx, n_threads, n_threads);
      threads_now = n_threads;
    }
    const int rc = llama_decode(ctx, batch);
    if (rc != 0) {
      // Free every running sequence so that the next requests start clean.
      for (auto& slot : slots) {
        if (slot.state != SlotState::kIdle) {
          finish(slot, Status::internal("llama_decode failed with code " + std::to_string(rc)));
        }
        forget(slot);
      }
      if (cascade) {
        llama_memory_seq_rm(llama_get_memory(ctx), prefix_seq, -1, -1);
        prefix_tokens.clear();
      }
      continue;
    }
    after_decode();
  }
  fail_all(shutting_down());
}

void LlamaEngine::Replica::fail_all(const Status& status) {
  for (auto& slot : slots) {
    if (slot.state != SlotState::kIdle) finish(slot, status);
  }
  std::deque<std::shared_ptr<Job>> pending;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& q : queues) {
      for (auto& job : q) pending.push_back(std::move(job));
      q.clear();
    }
  }
  for (auto& job : pending) job->callbacks.on_done(status);
}

// Moves queued jobs into idle slots, interactive ones first. Where each starts is the prefix
// planner's choice (prefix_planner.h): the idle slot holding the longest prefix of its prompt, a copy
// of a longer one from another sequence, a link to the shared prefix sequence, or a step or two of
// waiting for a prefix another sequence is computing right now.
void LlamaEngine::Replica::admit_jobs() {
  while (true) {
    if (std::none_of(slots.begin(), slots.end(), [](const Slot& s) { return s.state == SlotState::kIdle; })) {
      return;
    }
    if (earlier_replica_has_room()) return;
    // Another replica may take the front job while this one plans it: it then plans the next.
    std::deque<std::shared_ptr<Job>>* queue = nullptr;
    std::shared_ptr<Job> job;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& q : queues) {
        if (!q.empty()) {
          queue = &q;
          job = q.front();
          break;
        }
      }
    }
    if (!job) return;
    const Admission plan = plan_admission(admission_inputs(*job, cascade));
    if (plan.kind == Admission::Kind::kWait && !job->cancelled.load()) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (queue->empty() || queue->front() != job) continue;
      queue->pop_front();
    }
    if (job->cancelled.load()) {
      job->callbacks.on_done(request_cancelled());
      continue;
    }
    if (plan.kind == Admission::Kind::kLink && start_linked(job, plan)) continue;
    // Not linked: the plan without the shared prefix.
    AdmissionInputs again = admission_inputs(*job, /*with_cascade=*/false);
    again.may_wait = false;
    const Admission start = plan.kind == Admission::Kind::kStart ? plan : plan_admission(again);
    start_planned(std::move(job), start);
  }
}

AdmissionInputs LlamaEngine::Replica::admission_inputs(const Job& job, bool with_cascade) const {
  AdmissionInputs in;
  const auto& prompt = job.prompt;
  for (const Slot& slot : slots) {
    SequenceState s;
    s.idle = slot.state == SlotState::kIdle;
    s.linked = slot.linked > 0;
    s.held = common_prefix_length(slot.cached, prompt);
    if (slot.state == SlotState::kPrefill) s.coming = common_prefix_length(slot.job->prompt, prompt);
    in.sequences.push_back(s);
  }
  in.cascade = with_cascade;
  in.prefix_held = with_cascade ? common_prefix_length(prefix_tokens, prompt) : 0;
  // The last prompt token is decoded for the first draw's logits; an image's embeddings go in whole.
  in.usable = [&job](size_t n) {
    return job.vision.align_to_image_start(std::min(n, job.prompt.size() - 1));
  };
  in.min_copy = kMinCopyTokens;
  return in;
}

// Gives `to` the KV of the first `n` tokens of `from` (whose positions `layout`, the prompt they are a
// prefix of, tells). In one unified buffer the copy tags the same cells with one more sequence; with a
// KV stream per sequence (cascade attention) it is a copy of the stream buffer, done by llama.cpp at the
// start of the next decode. Either is far cheaper than computing the prefix again.
void LlamaEngine::Replica::copy_prefix(const Slot& from, Slot& to, size_t n, const VisionPrompt& layout) {
  llama_memory_t mem = llama_get_memory(ctx);
  llama_memory_seq_cp(mem, from.seq, to.seq, -1, -1);
  llama_memory_seq_rm(mem, to.seq, layout.position_of(n), -1);
  to.cached.assign(from.cached.begin(), from.cached.begin() + static_cast<std::ptrdiff_t>(n));
}

void LlamaEngine::Replica::start_planned(std::shared_ptr<Job> job, const Admission& plan) {
  Slot& slot = slots[plan.sequence];
  if (plan.copy_from) copy_prefix(slots[*plan.copy_from], slot, plan.copy_tokens, job->vision);
  start_job(slot, std::move(job));
}

// Starts the job on the planned sequence linked to the shared prefix sequence, which first takes its
// prefix from another sequence when the plan says so. Returns false (the job untouched) where
// llama.cpp refuses the link.
bool LlamaEngine::Replica::start_linked(std::shared_ptr<Job>& job, const Admission& plan) {
  const auto& prompt = job->prompt;
  llama_memory_t mem = llama_get_memory(ctx);
  if (plan.refill_from) {
    llama_memory_seq_rm(mem, prefix_seq, -1, -1);
    llama_memory_seq_cp(mem, slots[*plan.refill_from].seq, prefix_seq, -1, -1);
    llama_memory_seq_rm(mem, prefix_seq, static_cast<llama_pos>(plan.shared), -1);
    prefix_tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(plan.shared));
  }
  Slot& slot = slots[plan.sequence];
  forget(slot);
  if (!llama_memory_seq_attach_prefix(mem, slot.seq, prefix_seq, static_cast<llama_pos>(plan.shared)))
    return false;
  slot.linked = plan.shared;
  slot.cached.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(plan.shared));
  start_job(slot, std::move(job));
  return true;
}

// Empties the sequence: its own KV stream and its link to the shared prefix.
void LlamaEngine::Replica::forget(Slot& slot) {
  llama_memory_seq_rm(llama_get_memory(ctx), slot.seq, -1, -1);
  slot.cached.clear();
  slot.linked = 0;
}

void LlamaEngine::Replica::start_job(Slot& slot, std::shared_ptr<Job> job) {
  size_t reuse = common_prefix_length(slot.cached, job->prompt);
  // The last prompt token must be decoded again to get the logits of the first generated token.
  if (reuse >= job->prompt.size()) reuse = job->prompt.size() - 1;
  // An image's embeddings go in whole.
  reuse = job->vision.align_to_image_start(reuse);
  if (!llama_memory_seq_rm(llama_get_memory(ctx), slot.seq, job->vision.position_of(reuse), -1)) {
    llama_memory_seq_rm(llama_get_memory(ctx), slot.seq, -1, -1);
    reuse = 0;
  }
  slot.cached.resize(reuse);
  slot.prompt_done = reuse;
  slot.result = Generation{};
  slot.result.prompt_tokens = static_cast<int>(job->prompt.size());
  slot.result.cached_tokens = static_cast<int>(reuse);
  // The tokens computed now stay in the sequence's KV cells for the next request that shares them.
  slot.result.cache_write_tokens = static_cast<int>(job->prompt.size() - reuse);
  slot.sampler = std::make_unique<RequestSampler>(vocab, job->request, job->grammar, &bytes);
  std::vector<std::string> stops = job->request.stop;
  stops.insert(stops.end(), job->chat.stops.begin(), job->chat.stops.end());
  slot.text = std::make_unique<TextStream>(std::move(stops));
  slot.message = job->callbacks.on_delta ? std::make_unique<MessageStream>(job->chat.parser) : nullptr;
  slot.thinking = job->chat.thinking_open;
  slot.thinking_done = job->chat.thinking_end_tags.empty();
  if (job->callbacks.on_delta && job->request.raw_prompt && job->request.raw_prompt->echo) {
    job->callbacks.on_delta({raw_prompt_echo(vocab, *job->request.raw_prompt), {}, {}, {}});
  }
  slot.job = std::move(job);
  slot.state = SlotState::kPrefill;
}

// Fills the batch: the first generated token of each generating slot, then the rest of their forced
// runs, then prompt chunks up to the batch size. A slot gets logits for its last token in the batch
// only when that token is the last one it has to decode.
bool LlamaEngine::Replica::build_batch() {
  batch.n_tokens = 0;
  const int capacity = static_cast<int>(llama_n_batch(ctx));
  auto add = [&](Slot& slot, llama_token token, bool logits) {
    const int i = batch.n_tokens++;
    batch.token[i] = token;
    batch.pos[i] = slot.job->vision.position_of(slot.cached.size());
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = slot.seq;
    batch.logits[i] = logits;
    slot.cached.push_back(token);
    if (logits) slot.batch_index = i;
  };
  // Adds up to `limit` of a generating slot's pending tokens.
  auto add_pending = [&](Slot& slot, size_t limit) {
    size_t n = std::min(limit, slot.pending.size());
    for (size_t k = 0; k < n; ++k) add(slot, slot.pending[k], k + 1 == slot.pending.size());
    slot.pending.erase(slot.pending.begin(), slot.pending.begin() + static_cast<std::ptrdiff_t>(n));
  };
  for (auto& slot : slots) {
    slot.batch_index = -1;
    if (slot.state == SlotState::kIdle) continue;
    if (slot.job->cancelled.load()) {
      finish(slot, request_cancelled());
      continue;
    }
    if (slot.state == SlotState::kGenerate && !slot.pending.empty()) add_pending(slot, 1);
  }
  for (auto& slot : slots) {
    if (slot.state != SlotState::kGenerate || slot.pending.empty()) continue;
    add_pending(slot, static_cast<size_t>(std::max(0, capacity - batch.n_tokens)));
  }
  for (auto& slot : slots) {
    if (slot.state != SlotState::kPrefill) continue;
    const auto& prompt = slot.job->prompt;
    // Prefill stops before an image: decode_images() puts its embeddings in on the next step.
    while (slot.prompt_done < prompt.size() && batch.n_tokens < capacity &&
           !slot.job->vision.image_starting_at(slot.prompt_done)) {
      const bool last = slot.prompt_done + 1 == prompt.size();
      add(slot, prompt[slot.prompt_done++], last);
    }
    if (batch.n_tokens >= capacity) break;
  }
  return batch.n_tokens > 0;
}

// Decodes the embeddings of the image each prefilling sequence has reached, one llama_decode per image
// (a batch holds tokens or embeddings, not both).
void LlamaEngine::Replica::decode_images() {
  for (auto& slot : slots) {
    if (slot.state != SlotState::kPrefill || slot.job->cancelled.load()) continue;
    VisionPrompt& vp = slot.job->vision;
    PromptImage* image = vp.image_starting_at(slot.prompt_done);
    if (image == nullptr) continue;
    Status s = vision->decode(ctx, *image, vp.position_of(slot.cached.size()), slot.seq);
    if (!s) {
      finish(slot, s);
      forget(slot);
      continue;
    }
    const auto first = slot.job->prompt.begin() + static_cast<std::ptrdiff_t>(image->start);
    slot.cached.insert(slot.cached.end(), first, first + static_cast<std::ptrdiff_t>(image->n_tokens));
    slot.prompt_done += image->n_tokens;
    if (&vp.images.back() == image) vp.hold->release();
  }
}

// Draws the next token of every slot that has logits in the batch into slot.drawn. With a large
// vocabulary each draw scans it (tens of microseconds per 10k tokens), which adds up over many
// sequences while the accelerator waits: the draws are then shared among threads (one per
// options.sampling_work_per_thread entries scanned, a 150k vocabulary and 4 sequences is well above
// it; the 537-token test models stay below), each slot's sampler used by one thread only.
void LlamaEngine::Replica::draw_tokens() {
  std::vector<std::pair<Slot*, const float*>> drawing;
  for (auto& slot : slots) {
    if (slot.state == SlotState::kIdle || slot.batch_index < 0) continue;
    // Read on this thread: llama_get_logits_ith synchronises the context.
    drawing.emplace_back(&slot, llama_get_logits_ith(ctx, slot.batch_index));
  }
  auto draw = [&drawing](size_t from, size_t step) {
    for (size_t k = from; k < drawing.size(); k += step) {
      auto [slot, logits] = drawing[k];
      slot->drawn = slot->sampler->sample(logits);
    }
  };
  const size_t work = drawing.size() * static_cast<size_t>(llama_vocab_n_tokens(vocab));
  const size_t threads = std::min<size_t>(
      {sampling_threads, drawing.size(), 1 + work / std::max<size_t>(1, options.sampling_work_per_thread)});
  std::vector<std::future<void>> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.push_back(std::async(std::launch::async, draw, t, threads));
  draw(0, std::max<size_t>(threads, 1));
  for (auto& h : helpers) h.get();
}

void LlamaEngine::Replica::after_decode() {
  draw_tokens();
  for (auto& slot : slots) {
    if (slot.state == SlotState::kIdle || slot.batch_index < 0) continue;
    slot.state = SlotState::kGenerate;
    Job& job = *slot.job;
    const llama_token token = slot.drawn;
    const bool eog = llama_vocab_is_eog(vocab, token);
    if (eog) {  // with ignore_eos only when a grammar's text is complete
      slot.result.finish_reason = FinishReason::kStop;
      finish(slot, std::move(slot.result));
      continue;
    }
    slot.result.completion_tokens++;
    slot.pending.assign(1, token);
    std::vector<TokenLogprob> logprobs;
    std::string piece = piece_of(job, token);
    if (job.request.logprobs) {
      logprobs.push_back(token_logprob(vocab, ctx, slot.batch_index, token, job.request.top_logprobs));
    } else {
      piece += jump_forward(slot);
    }
    const bool stopped = slot.text->append(piece);
    count_reasoning(slot);
    std::string delta = slot.text->take_ready();
    if (slot.message && (!delta.empty() || !logprobs.empty())) {
      GenerationDelta d = slot.message->append(delta, /*partial=*/true);
      d.logprobs = logprobs;
      if (!d.empty()) job.callbacks.on_delta(std::move(d));
    }
    for (auto& lp : logprobs) slot.result.logprobs.push_back(std::move(lp));
    const bool out_of_context =
        static_cast<int>(slot.cached.size() + slot.pending.size()) >= info.context_per_sequence;
    const bool at_limit =
        job.request.max_tokens >= 0 && slot.result.completion_tokens >= job.request.max_tokens;
    // At most one call: the generation ends as soon as the first is whole (its arguments' object closes).
    const bool call_done =
        job.chat.single_tool_call && piece.find('}') != std::string::npos &&
        std::ranges::any_of(job.chat.parser->parse(slot.text->text(), /*partial=*/true).tool_calls,
                            call_complete);
    if (stopped || call_done) {
      slot.result.finish_reason = FinishReason::kStop;
      finish(slot, std::move(slot.result));
    } else if (at_limit || out_of_context) {
      slot.result.finish_reason = FinishReason::kLength;
      finish(slot, std::move(slot.result));
    }
  }
}

// Counts the completion tokens spent thinking: all of them from the start of the thinking block (the
// prompt's end, or a start tag the model writes first) to the token that completes an end tag.
void LlamaEngine::Replica::count_reasoning(Slot& slot) const {
  if (slot.thinking_done) return;
  const ChatPrompt& chat = slot.job->chat;
  const std::string& text = slot.text->text();
  if (!slot.thinking) {
    const size_t start = text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return;
    const std::string_view rest = std::string_view(text).substr(start);
    const std::string& tag = chat.thinking_start_tag;
    if (tag.empty()) {
      slot.thinking_done = true;
      return;
    }
    if (rest.size() < tag.size()) {
      if (!tag.starts_with(rest)) slot.thinking_done = true;
      return;
    }
    if (!rest.starts_with(tag)) {
      slot.thinking_done = true;
      return;
    }
    slot.thinking = true;
  }
  slot.result.reasoning_tokens = slot.result.completion_tokens;
  for (const std::string& end : chat.thinking_end_tags) {
    if (!end.empty() && text.find(end) != std::string::npos) {
      slot.thinking = false;
      slot.thinking_done = true;
    }
  }
}

// Appends the text the grammar forces next to the slot's pending tokens, so that the next step decodes
// it like prompt tokens instead of drawing it token by token. Returns that text.
std::string LlamaEngine::Replica::jump_forward(Slot& slot) {
  constexpr size_t kMaxForcedBytes = 64;
  const GenerationRequest& request = slot.job->request;
  int budget = info.context_per_sequence - static_cast<int>(slot.cached.size() + slot.pending.size()) - 1;
  if (request.max_tokens >= 0) budget = std::min(budget, request.max_tokens - slot.result.completion_tokens);
  if (budget <= 0) return {};
  std::string forced = slot.sampler->take_forced_text(kMaxForcedBytes);
  if (forced.empty()) return forced;
  // A format's own tags (<tool_call>) are single tokens the model knows: spell them so.
  std::vector<llama_token> tokens = slot.job->chat.preserved_tokens.empty()
                                        ? tokenize_text(vocab, forced)
                                        : tokenize_special_text(vocab, forced);
  std::string spelled;
  for (llama_token t : tokens) spelled += piece_of(*slot.job, t);
  if (spelled != forced) {
    // Some tokenizers change text on the way in (SentencePiece's leading space): spell it byte by byte.
    tokens.clear();
    for (char c : forced) tokens.push_back(bytes.of_byte[static_cast<uint8_t>(c)]);
  }
  if (static_cast<int>(tokens.size()) > budget) {
    // The generation ends at its limit within the forced text: keep what fits.
    tokens.resize(static_cast<size_t>(budget));
    forced.clear();
    for (llama_token t : tokens) forced += piece_of(*slot.job, t);
  }
  slot.sampler->accept_forced(tokens);
  slot.pending.insert(slot.pending.end(), tokens.begin(), tokens.end());
  slot.result.completion_tokens += static_cast<int>(tokens.size());
  slot.result.forced_tokens += static_cast<int>(tokens.size());
  return forced;
}

void LlamaEngine::Replica::finish(Slot& slot, Result<Generation> result) {
  std::shared_ptr<Job> job = std::move(slot.job);
  if (result.is_ok()) {
    std::string rest = slot.text->take_rest();
    ParsedMessage parsed;
    if (slot.message) {
      // The last pieces as the stream has read the others (a finished parse may write a call's
      // arguments out anew, which would not continue what was sent).
      GenerationDelta d = slot.message->append(rest, /*partial=*/true);
      if (!d.empty()) job->callbacks.on_delta(std::move(d));
    }
    parsed = job->chat.parser->parse(slot.text->text(), /*partial=*/false);
    result->text = std::move(parsed.content);
    if (job->request.raw_prompt && job->request.raw_prompt->echo) {
      result->text = raw_prompt_echo(vocab, *job->request.raw_prompt) + result->text;
    }
    result->reasoning_content = std::move(parsed.reasoning_content);
    // A call cut by max_tokens (or by a stop string) is not handed out as a call: its arguments would
    // not parse. finish_reason "length" says the answer was cut.
    std::erase_if(parsed.tool_calls, [](const ToolCall& call) { return !call_complete(call); });
    result->tool_calls = std::move(parsed.tool_calls);
    if (!result->tool_calls.empty() && result->finish_reason == FinishReason::kStop) {
      result->finish_reason = FinishReason::kToolCalls;
    }
  }
  slot.state = SlotState::kIdle;
  // A linked sequence's own stream holds no prefix, so nothing in it is worth keeping for the next job,
  // and the link would pin the shared prefix.
  if (slot.linked > 0) forget(slot);
  slot.sampler.reset();
  slot.text.reset();
  slot.message.reset();
  slot.pending.clear();
  slot.batch_index = -1;
  job->callbacks.on_done(std::move(result));
}

}  // namespace openbatch::engine
