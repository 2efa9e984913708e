#include "cli/engine_options.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "media/image_loading_engine.h"

namespace openbatch::cli {

void add_engine_options(CLI::App* cmd, EngineOptions& o, const std::string& model_id_help) {
  models::ModelSource& src = o.source;
  CLI::Option* model =
      cmd->add_option("--model,-m", src.model_path, "GGUF model file (or --hf-repo, --model-url)")
          ->check(CLI::ExistingFile);
  CLI::Option* repo = cmd->add_option(
      "--hf-repo", src.hf_repo,
      "Hub repository to download the model from, OWNER/NAME[:QUANT] (also -hf); without "
      "--hf-file the .gguf of QUANT, else Q4_K_M, else Q8_0, else the first. Hub: $HF_ENDPOINT "
      "(default https://huggingface.co), token: $HF_TOKEN");
  cmd->add_option("--hf-file", src.hf_file, "The model's file in --hf-repo (default: chosen by the quant)")
      ->needs(repo);
  CLI::Option* url = cmd->add_option("--model-url", src.model_url, "URL of a GGUF model file to download");
  model->excludes(repo)->excludes(url);
  repo->excludes(url);
  cmd->add_option("--models-dir", o.models_dir,
                  "Cache of downloaded models, reused offline (default: $OPENBATCH_MODELS_DIR, else "
                  "$XDG_CACHE_HOME/openbatch/models, else ~/.cache/openbatch/models)");
  // One value an occurrence, so that `run --model-id NAME input.jsonl` leaves the input alone.
  cmd->add_option("--model-id", o.llama.model_ids, model_id_help)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  CLI::Option* mmproj =
      cmd->add_option("--mmproj", src.mmproj_path,
                      "Vision projector (mmproj GGUF) of the model: enables image_url content parts")
          ->check(CLI::ExistingFile);
  CLI::Option* hf_mmproj =
      cmd->add_option("--hf-mmproj-file", src.hf_mmproj_file,
                      "The projector's file in --hf-repo (without --hf-file, the repository's mmproj "
                      "file is taken anyway)")
          ->needs(repo);
  CLI::Option* mmproj_url =
      cmd->add_option("--mmproj-url", src.mmproj_url, "URL of a projector file to download");
  CLI::Option* no_mmproj =
      cmd->add_flag("--no-mmproj", src.no_mmproj, "Do not take --hf-repo's projector (text only)");
  mmproj->excludes(hf_mmproj)->excludes(mmproj_url)->excludes(no_mmproj);
  hf_mmproj->excludes(mmproj_url)->excludes(no_mmproj);
  mmproj_url->excludes(no_mmproj);
  cmd->add_option("--parallel", o.llama.parallel,
                  "Sequences decoded together; 0: sized to the hardware and the KV memory. With "
                  "--upstream: requests in flight on each upstream (0: found per upstream, from 8 up "
                  "while it answers well and down on 429, 503 and timeouts, at most "
                  "--upstream-max-parallel)")
      ->capture_default_str();
  cmd->add_option("--ctx-size,-c", o.llama.ctx_size,
                  "Total KV cells shared by the sequences (default: min(trained, 4096) per sequence)");
  cmd->add_option("--threads,-t", o.llama.threads, "CPU threads (default: all cores)");
  cmd->add_option("--data-parallel", o.llama.data_parallel,
                  "llama.cpp contexts over the model's weights, each decoding its share of --parallel on "
                  "its share of --threads (all of them while the others are idle); 0: 2 on a CPU, 1 on a "
                  "GPU or with a projector")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_option("--batch-size,-b", o.llama.batch_size, "Most tokens per decode step")
      ->capture_default_str();
  cmd->add_option("--gpu-layers", o.llama.gpu_layers, "Layers offloaded to the GPU (default: all)");
  cmd->add_option("--chat-template-file", o.chat_template_file,
                  "Jinja chat template used instead of the model's own (tokenizer.chat_template)")
      ->check(CLI::ExistingFile);
  const std::map<std::string, engine::CascadeAttention> cascade_modes = {
      {"auto", engine::CascadeAttention::kAuto},
      {"on", engine::CascadeAttention::kOn},
      {"off", engine::CascadeAttention::kOff}};
  cmd->add_option("--cascade", o.llama.cascade,
                  "Cascade attention: requests sharing a prefix read its KV in place, all together "
                  "(auto: on when the model runs on the CPU)")
      ->transform(CLI::CheckedTransformer(cascade_modes, CLI::ignore_case).description(""))
      ->type_name("auto|on|off")
      ->default_str("auto");
  CLI::Option* upstream =
      cmd->add_option("--upstream", o.upstream.base_urls,
                      "Run requests on this OpenAI-compatible server instead of a local model, given as "
                      "its API root (http://host:8080/v1); repeat to spread the work over several")
          ->allow_extra_args(false)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  upstream->excludes(model)->excludes(repo)->excludes(url)->excludes(mmproj)->excludes(hf_mmproj)->excludes(
      mmproj_url);
  cmd->add_option("--upstream-model", o.upstream.model,
                  "The model's name on the upstream (default: the first --model-id, else the first "
                  "model the upstream lists)")
      ->needs(upstream);
  cmd->add_option("--upstream-api-key", o.upstream.api_key,
                  "Bearer key for the upstream (default: $OPENBATCH_UPSTREAM_API_KEY)")
      ->envname("OPENBATCH_UPSTREAM_API_KEY");
  cmd->add_option("--upstream-retries", o.upstream.max_attempts,
                  "Tries of a request that meets a busy or unreachable upstream (429, 5xx, no "
                  "connection) before it fails with 503 (a batch then runs it again later)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--upstream-max-parallel", o.upstream.max_parallel,
                  "With --parallel 0: the most requests in flight the found concurrency gives each upstream")
      ->check(CLI::Range(1, engine::upstream::kMaxUpstreamParallel))
      ->capture_default_str();
  const std::map<std::string, engine::upstream::Routing> routings = {
      {"affinity", engine::upstream::Routing::kAffinity},
      {"round-robin", engine::upstream::Routing::kRoundRobin}};
  cmd->add_option("--upstream-routing", o.upstream.routing,
                  "Which upstream a request goes to: affinity (requests with the same system prompt, else "
                  "the same first 2 KB of their first message, go to the same upstream while its load "
                  "allows, so its prompt cache holds them) or round-robin")
      ->transform(CLI::CheckedTransformer(routings, CLI::ignore_case).description(""))
      ->type_name("affinity|round-robin")
      ->default_str("affinity");
  cmd->add_option("--image-timeout", o.image_timeout_seconds,
                  "Seconds an image URL may take to download, redirects included")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--image-max-mb", o.image_max_mb, "Largest image file accepted, in MB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  net::DestinationPolicy& destinations = o.images.fetch.destinations;
  cmd->add_flag("--image-allow-private", destinations.allow_private,
                "Fetch image URLs from any address: loopback, private, link-local... (default: public "
                "addresses only, so that clients cannot make the server reach its own network)");
  cmd->add_option("--image-allow-host", destinations.allowed_hosts,
                  "Fetch image URLs from this host name or IP address even though its address is not "
                  "public; repeat for several")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void require_model_source(const EngineOptions& o) {
  if (o.source.model_path.empty() && o.source.hf_repo.empty() && o.source.model_url.empty() &&
      o.upstream.base_urls.empty()) {
    throw CLI::ValidationError(
        "a model is required: --model PATH, --hf-repo OWNER/NAME[:QUANT], --model-url URL or --upstream URL");
  }
  if (!o.source.hf_repo.empty()) {
    if (auto repo = models::parse_hub_repo(o.source.hf_repo); !repo)
      throw CLI::ValidationError(repo.status().message());
  }
  for (const auto& [option, file] :
       {std::pair{"--hf-file", &o.source.hf_file}, std::pair{"--hf-mmproj-file", &o.source.hf_mmproj_file}}) {
    if (file->empty()) continue;
    if (auto path = models::safe_relative_path(*file); !path) {
      throw CLI::ValidationError(std::string(option) + ": " + path.status().message());
    }
  }
}

void expand_hf_short_option(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "serve") != 0 && std::strcmp(argv[1], "run") != 0)) return;
  static char long_name[] = "--hf-repo";
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;
    if (std::strcmp(argv[i], "-hf") == 0) argv[i] = long_name;
  }
}

Status fetch_engine_files(EngineOptions& o, std::function<bool()> stop) {
  if (!o.upstream.base_urls.empty()) return Status::ok();
  models::HubOptions hub = models::hub_options_from_env();
  if (!o.models_dir.empty()) hub.models_dir = o.models_dir;
  hub.download.stop = std::move(stop);
  auto files = models::fetch_model_files(o.source, hub);
  if (!files) return files.status();
  o.llama.model_path = files->model_path;
  o.llama.mmproj_path = files->mmproj_path;
  return Status::ok();
}

Result<std::unique_ptr<engine::Engine>> load_engine(EngineOptions o) {
  if (!o.upstream.base_urls.empty()) {
    o.upstream.parallel = std::max(0, o.llama.parallel);  // 0: found per upstream
    o.upstream.model_ids = o.llama.model_ids;
    if (o.upstream.model.empty() && !o.upstream.model_ids.empty()) o.upstream.model = o.upstream.model_ids[0];
    return engine::upstream::start_upstream_engine(std::move(o.upstream));
  }
  if (!o.chat_template_file.empty()) {
    std::ifstream in(o.chat_template_file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty())
      return Status::internal("cannot read --chat-template-file " + o.chat_template_file);
    o.llama.chat_template = text.str();
  }
  auto llama = engine::LlamaEngine::load(o.llama);
  if (!llama) return llama.status();
  o.images.fetch.total_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(o.image_timeout_seconds * 1000));
  o.images.fetch.connect_timeout = std::min(o.images.fetch.connect_timeout, o.images.fetch.total_timeout);
  o.images.fetch.max_bytes = static_cast<int64_t>(o.image_max_mb * 1024 * 1024);
  std::unique_ptr<engine::Engine> inner = std::move(llama).value();
  return std::unique_ptr<engine::Engine>(new media::ImageLoadingEngine(std::move(inner), o.images));
}

std::string describe_engine_source(const EngineOptions& o) {
  if (o.upstream.base_urls.empty()) return o.llama.model_path;
  std::string out = "upstream";
  for (const std::string& url : o.upstream.base_urls) out += " " + url;
  return out;
}

}  // namespace openbatch::cli
