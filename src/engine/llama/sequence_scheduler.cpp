#include "engine/llama/sequence_scheduler.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <utility>

#include "engine/llama/forced_tokens.h"
#include "engine/llama/prompt.h"
#include "engine/llama/raw_prompt.h"

namespace openbatch::engine {

namespace {

// Copying a prefix's KV from another sequence costs a copy of that sequence's whole KV stream; below
// this many tokens computing them again is about as cheap.
constexpr size_t kMinCopyTokens = 64;

}  // namespace

SequenceScheduler::SequenceScheduler(const SharedModel& shared, JobQueue& queue, llama_context* ctx,
                                     const ContextLayout& layout)
    : shared_(shared),
      queue_(queue),
      ctx_(ctx),
      index_(layout.index),
      threads_(layout.threads),
      threads_now_(layout.threads),
      slots_(static_cast<size_t>(layout.sequences)),
      cascade_(layout.cascade) {
  for (int i = 0; i < layout.sequences; ++i) slots_[i].seq = i;
  // The last id: requests keep ids 0..sequences-1, consecutive as llama.cpp wants them in one ubatch.
  if (cascade_) prefix_seq_ = layout.sequences;
  batch_ = llama_batch_init(static_cast<int32_t>(layout.n_batch), 0, 1);
}

SequenceScheduler::~SequenceScheduler() {
  if (batch_.token) llama_batch_free(batch_);
  if (ctx_) llama_free(ctx_);
}

void SequenceScheduler::start() {
  thread_ = std::thread([this] { loop(); });
}

void SequenceScheduler::join() {
  if (thread_.joinable()) thread_.join();
}

bool SequenceScheduler::busy() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state != SlotState::kIdle; });
}

bool SequenceScheduler::has_idle() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state == SlotState::kIdle; });
}

void SequenceScheduler::count_idle() {
  queue_.set_idle(index_, static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) {
                    return s.state == SlotState::kIdle;
                  })));
}

void SequenceScheduler::loop() {
  while (true) {
    count_idle();  // before waiting idle
    if (!queue_.wait_for_work(index_, [this] { return busy(); })) break;
    admit_jobs();
    count_idle();
    if (shared_.vision) decode_images();
    if (!build_batch()) continue;
    // Every thread while the other contexts are idle, its share while they decode too.
    const int n_threads = queue_.another_context_busy(index_) ? threads_ : shared_.threads_alone;
    if (n_threads != threads_now_) {
      llama_set_n_threads(ctx_, n_threads, n_threads);
      threads_now_ = n_threads;
    }
    const int rc = llama_decode(ctx_, batch_);
    if (rc != 0) {
      fail_decode(rc);
      continue;
    }
    after_decode();
  }
  fail_all(shutting_down());
}

// Frees every running sequence so that the next requests start clean.
void SequenceScheduler::fail_decode(int rc) {
  for (auto& slot : slots_) {
    if (slot.state != SlotState::kIdle) {
      finish(slot, Status::internal("llama_decode failed with code " + std::to_string(rc)));
    }
    forget(slot);
  }
  if (cascade_) {
    llama_memory_seq_rm(llama_get_memory(ctx_), prefix_seq_, -1, -1);
    prefix_tokens_.clear();
  }
}

void SequenceScheduler::fail_all(const Status& status) {
  for (auto& slot : slots_) {
    if (slot.state != SlotState::kIdle) finish(slot, status);
  }
  for (auto& job : queue_.take_all()) job->callbacks.on_done(status);
}

// ---- admission

// Moves queued jobs into idle slots, interactive ones first. Where each starts is the prefix
// planner's choice (prefix_planner.h): the idle slot holding the longest prefix of its prompt, a copy
// of a longer one from another sequence, a link to the shared prefix sequence, or a step or two of
// waiting for a prefix another sequence is computing right now.
void SequenceScheduler::admit_jobs() {
  while (true) {
    if (!has_idle()) return;
    if (queue_.earlier_context_has_room(index_)) return;
    // Another context may take the front job while this one plans it: it then plans the next.
    int queue = 0;
    std::shared_ptr<GenerationJob> job = queue_.front(&queue);
    if (!job) return;
    const Admission plan = plan_admission(admission_inputs(*job, cascade_));
    if (plan.kind == Admission::Kind::kWait && !job->cancelled.load()) return;
    if (!queue_.pop(queue, job)) continue;
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

AdmissionInputs SequenceScheduler::admission_inputs(const GenerationJob& job, bool with_cascade) const {
  AdmissionInputs in;
  const auto& prompt = job.prompt;
  for (const Slot& slot : slots_) {
    SequenceState s;
    s.idle = slot.state == SlotState::kIdle;
    s.linked = slot.linked > 0;
    s.held = common_prefix_length(slot.cached, prompt);
    if (slot.state == SlotState::kPrefill) s.coming = common_prefix_length(slot.job->prompt, prompt);
    in.sequences.push_back(s);
  }
  in.cascade = with_cascade;
  in.prefix_held = with_cascade ? common_prefix_length(prefix_tokens_, prompt) : 0;
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
void SequenceScheduler::copy_prefix(const Slot& from, Slot& to, size_t n, const VisionPrompt& layout) {
  llama_memory_t mem = llama_get_memory(ctx_);
  llama_memory_seq_cp(mem, from.seq, to.seq, -1, -1);
  llama_memory_seq_rm(mem, to.seq, layout.position_of(n), -1);
  to.cached.assign(from.cached.begin(), from.cached.begin() + static_cast<std::ptrdiff_t>(n));
}

void SequenceScheduler::start_planned(std::shared_ptr<GenerationJob> job, const Admission& plan) {
  Slot& slot = slots_[plan.sequence];
  if (plan.copy_from) copy_prefix(slots_[*plan.copy_from], slot, plan.copy_tokens, job->vision);
  start_job(slot, std::move(job));
}

// Starts the job on the planned sequence linked to the shared prefix sequence, which first takes its
// prefix from another sequence when the plan says so. Returns false (the job untouched) where
// llama.cpp refuses the link.
bool SequenceScheduler::start_linked(std::shared_ptr<GenerationJob>& job, const Admission& plan) {
  const auto& prompt = job->prompt;
  llama_memory_t mem = llama_get_memory(ctx_);
  if (plan.refill_from) {
    llama_memory_seq_rm(mem, prefix_seq_, -1, -1);
    llama_memory_seq_cp(mem, slots_[*plan.refill_from].seq, prefix_seq_, -1, -1);
    llama_memory_seq_rm(mem, prefix_seq_, static_cast<llama_pos>(plan.shared), -1);
    prefix_tokens_.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(plan.shared));
  }
  Slot& slot = slots_[plan.sequence];
  forget(slot);
  if (!llama_memory_seq_attach_prefix(mem, slot.seq, prefix_seq_, static_cast<llama_pos>(plan.shared)))
    return false;
  slot.linked = plan.shared;
  slot.cached.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(plan.shared));
  start_job(slot, std::move(job));
  return true;
}

// Empties the sequence: its own KV stream and its link to the shared prefix.
void SequenceScheduler::forget(Slot& slot) {
  llama_memory_seq_rm(llama_get_memory(ctx_), slot.seq, -1, -1);
  slot.cached.clear();
  slot.linked = 0;
}

void SequenceScheduler::start_job(Slot& slot, std::shared_ptr<GenerationJob> job) {
  if (job->callbacks.on_started) job->callbacks.on_started();
  size_t reuse = common_prefix_length(slot.cached, job->prompt);
  // The last prompt token must be decoded again to get the logits of the first generated token.
  if (reuse >= job->prompt.size()) reuse = job->prompt.size() - 1;
  // An image's embeddings go in whole.
  reuse = job->vision.align_to_image_start(reuse);
  if (!llama_memory_seq_rm(llama_get_memory(ctx_), slot.seq, job->vision.position_of(reuse), -1)) {
    llama_memory_seq_rm(llama_get_memory(ctx_), slot.seq, -1, -1);
    reuse = 0;
  }
  slot.cached.resize(reuse);
  slot.prompt_done = reuse;
  slot.result = Generation{};
  slot.result.prompt_tokens = static_cast<int>(job->prompt.size());
  slot.result.cached_tokens = static_cast<int>(reuse);
  // The tokens computed now stay in the sequence's KV cells for the next request that shares them.
  slot.result.cache_write_tokens = static_cast<int>(job->prompt.size() - reuse);
  slot.sampler = std::make_unique<RequestSampler>(shared_.vocab, job->request, job->grammar, shared_.bytes);
  std::vector<std::string> stops = job->request.stop;
  stops.insert(stops.end(), job->chat.stops.begin(), job->chat.stops.end());
  slot.text = std::make_unique<TextStream>(std::move(stops));
  slot.message = job->callbacks.on_delta ? std::make_unique<MessageStream>(job->chat.parser) : nullptr;
  slot.reasoning = ReasoningCounter(job->chat);
  if (job->callbacks.on_delta && job->request.raw_prompt && job->request.raw_prompt->echo) {
    job->callbacks.on_delta({raw_prompt_echo(shared_.vocab, *job->request.raw_prompt), {}, {}, {}});
  }
  slot.job = std::move(job);
  slot.state = SlotState::kPrefill;
}

// ---- a step

// Decodes the embeddings of the image each prefilling sequence has reached, one llama_decode per image
// (a batch holds tokens or embeddings, not both).
void SequenceScheduler::decode_images() {
  for (auto& slot : slots_) {
    if (slot.state != SlotState::kPrefill || slot.job->cancelled.load()) continue;
    VisionPrompt& vp = slot.job->vision;
    PromptImage* image = vp.image_starting_at(slot.prompt_done);
    if (image == nullptr) continue;
    Status s = shared_.vision->decode(ctx_, *image, vp.position_of(slot.cached.size()), slot.seq);
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

// Fills the batch: the first generated token of each generating slot, then the rest of their forced
// runs, then prompt chunks up to the batch size. A slot gets logits for its last token in the batch
// only when that token is the last one it has to decode.
bool SequenceScheduler::build_batch() {
  batch_.n_tokens = 0;
  const int capacity = static_cast<int>(llama_n_batch(ctx_));
  auto add = [&](Slot& slot, llama_token token, bool logits) {
    const int i = batch_.n_tokens++;
    batch_.token[i] = token;
    batch_.pos[i] = slot.job->vision.position_of(slot.cached.size());
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = slot.seq;
    batch_.logits[i] = logits;
    slot.cached.push_back(token);
    if (logits) slot.batch_index = i;
  };
  // Adds up to `limit` of a generating slot's pending tokens.
  auto add_pending = [&](Slot& slot, size_t limit) {
    size_t n = std::min(limit, slot.pending.size());
    for (size_t k = 0; k < n; ++k) add(slot, slot.pending[k], k + 1 == slot.pending.size());
    slot.pending.erase(slot.pending.begin(), slot.pending.begin() + static_cast<std::ptrdiff_t>(n));
  };
  for (auto& slot : slots_) {
    slot.batch_index = -1;
    if (slot.state == SlotState::kIdle) continue;
    if (slot.job->cancelled.load()) {
      finish(slot, request_cancelled());
      continue;
    }
    if (slot.state == SlotState::kGenerate && !slot.pending.empty()) add_pending(slot, 1);
  }
  for (auto& slot : slots_) {
    if (slot.state != SlotState::kGenerate || slot.pending.empty()) continue;
    add_pending(slot, static_cast<size_t>(std::max(0, capacity - batch_.n_tokens)));
  }
  for (auto& slot : slots_) {
    if (slot.state != SlotState::kPrefill) continue;
    const auto& prompt = slot.job->prompt;
    // Prefill stops before an image: decode_images() puts its embeddings in on the next step.
    while (slot.prompt_done < prompt.size() && batch_.n_tokens < capacity &&
           !slot.job->vision.image_starting_at(slot.prompt_done)) {
      const bool last = slot.prompt_done + 1 == prompt.size();
      add(slot, prompt[slot.prompt_done++], last);
    }
    if (batch_.n_tokens >= capacity) break;
  }
  return batch_.n_tokens > 0;
}

// Draws the next token of every slot that has logits in the batch into slot.drawn. With a large
// vocabulary each draw scans it (tens of microseconds per 10k tokens), which adds up over many
// sequences while the accelerator waits: the draws are then shared among threads (one per
// sampling_work_per_thread entries scanned, a 150k vocabulary and 4 sequences is well above it; the
// 537-token test models stay below), each slot's sampler used by one thread only.
void SequenceScheduler::draw_tokens() {
  std::vector<std::pair<Slot*, const float*>> drawing;
  for (auto& slot : slots_) {
    if (slot.state == SlotState::kIdle || slot.batch_index < 0) continue;
    // Read on this thread: llama_get_logits_ith synchronises the context.
    drawing.emplace_back(&slot, llama_get_logits_ith(ctx_, slot.batch_index));
  }
  auto draw = [&drawing](size_t from, size_t step) {
    for (size_t k = from; k < drawing.size(); k += step) {
      auto [slot, logits] = drawing[k];
      slot->drawn = slot->sampler->sample(logits);
    }
  };
  const size_t work = drawing.size() * static_cast<size_t>(llama_vocab_n_tokens(shared_.vocab));
  const size_t threads = std::min<size_t>({shared_.sampling_threads, drawing.size(),
                                           1 + work / std::max<size_t>(1, shared_.sampling_work_per_thread)});
  std::vector<std::future<void>> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.push_back(std::async(std::launch::async, draw, t, threads));
  draw(0, std::max<size_t>(threads, 1));
  for (auto& h : helpers) h.get();
}

void SequenceScheduler::after_decode() {
  draw_tokens();
  const llama_vocab* vocab = shared_.vocab;
  for (auto& slot : slots_) {
    if (slot.state == SlotState::kIdle || slot.batch_index < 0) continue;
    slot.state = SlotState::kGenerate;
    if (slot.result.first_token_at == std::chrono::steady_clock::time_point{}) {
      slot.result.first_token_at = std::chrono::steady_clock::now();
    }
    GenerationJob& job = *slot.job;
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
    std::string piece = job.chat.piece_of(vocab, token);
    if (job.request.logprobs) {
      logprobs.push_back(token_logprob(vocab, ctx_, slot.batch_index, token, job.request.top_logprobs));
    } else {
      piece += jump_forward(slot);
    }
    const bool stopped = slot.text->append(piece);
    slot.reasoning.update(job.chat, slot.text->text(), slot.result.completion_tokens,
                          slot.result.reasoning_tokens);
    std::string delta = slot.text->take_ready();
    if (slot.message && (!delta.empty() || !logprobs.empty())) {
      GenerationDelta d = slot.message->append(delta, /*partial=*/true);
      d.logprobs = logprobs;
      if (!d.empty()) job.callbacks.on_delta(std::move(d));
    }
    for (auto& lp : logprobs) slot.result.logprobs.push_back(std::move(lp));
    const bool out_of_context =
        static_cast<int>(slot.cached.size() + slot.pending.size()) >= shared_.context_per_sequence;
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

// Appends the text the grammar forces next to the slot's pending tokens, so that the next step decodes
// it like prompt tokens instead of drawing it token by token (forced_tokens.h). Returns that text.
std::string SequenceScheduler::jump_forward(Slot& slot) {
  const GenerationRequest& request = slot.job->request;
  int budget = shared_.context_per_sequence - static_cast<int>(slot.cached.size() + slot.pending.size()) - 1;
  if (request.max_tokens >= 0) budget = std::min(budget, request.max_tokens - slot.result.completion_tokens);
  ForcedTokens forced =
      take_forced_tokens(*slot.sampler, shared_.vocab, *shared_.bytes, slot.job->chat, budget);
  slot.pending.insert(slot.pending.end(), forced.tokens.begin(), forced.tokens.end());
  slot.result.completion_tokens += static_cast<int>(forced.tokens.size());
  slot.result.forced_tokens += static_cast<int>(forced.tokens.size());
  return std::move(forced.text);
}

void SequenceScheduler::finish(Slot& slot, Result<Generation> result) {
  std::shared_ptr<GenerationJob> job = std::move(slot.job);
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
      result->text = raw_prompt_echo(shared_.vocab, *job->request.raw_prompt) + result->text;
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
