#include "cli/engine_options.h"

#include <chrono>
#include <map>

#include "media/image_loading_engine.h"

namespace openbatch::cli {

void add_engine_options(CLI::App* cmd, EngineOptions& o, const std::string& model_id_help) {
  cmd->add_option("--model,-m", o.llama.model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--model-id", o.llama.model_ids, model_id_help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--mmproj", o.llama.mmproj_path,
                  "Vision projector (mmproj GGUF) of the model: enables image_url content parts")
      ->check(CLI::ExistingFile);
  cmd->add_option("--parallel", o.llama.parallel,
                  "Sequences decoded together; 0: sized to the hardware and the KV memory")
      ->capture_default_str();
  cmd->add_option("--ctx-size,-c", o.llama.ctx_size,
                  "Total KV cells shared by the sequences (default: min(trained, 4096) per sequence)");
  cmd->add_option("--threads,-t", o.llama.threads, "CPU threads (default: all cores)");
  cmd->add_option("--batch-size,-b", o.llama.batch_size, "Most tokens per decode step")
      ->capture_default_str();
  cmd->add_option("--gpu-layers", o.llama.gpu_layers, "Layers offloaded to the GPU (default: all)");
  const std::map<std::string, engine::CascadeAttention> cascade_modes = {
      {"auto", engine::CascadeAttention::kAuto},
      {"on", engine::CascadeAttention::kOn},
      {"off", engine::CascadeAttention::kOff}};
  cmd->add_option("--cascade", o.llama.cascade,
                  "Cascade attention: requests sharing a prefix read its KV in place, all together "
                  "(auto: on when the model runs on the CPU)")
      ->transform(CLI::CheckedTransformer(cascade_modes, CLI::ignore_case))
      ->default_str("auto");
  cmd->add_option("--image-timeout", o.image_timeout_seconds,
                  "Seconds an image URL may take to download, redirects included")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--image-max-mb", o.image_max_mb, "Largest image file accepted, in MB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

Result<std::unique_ptr<engine::Engine>> load_engine(EngineOptions o) {
  auto llama = engine::LlamaEngine::load(o.llama);
  if (!llama) return llama.status();
  o.images.fetch.total_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(o.image_timeout_seconds * 1000));
  o.images.fetch.connect_timeout = std::min(o.images.fetch.connect_timeout, o.images.fetch.total_timeout);
  o.images.fetch.max_bytes = static_cast<int64_t>(o.image_max_mb * 1024 * 1024);
  std::unique_ptr<engine::Engine> inner = std::move(llama).value();
  return std::unique_ptr<engine::Engine>(new media::ImageLoadingEngine(std::move(inner), o.images));
}

}  // namespace openbatch::cli
