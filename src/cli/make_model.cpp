// `openbatch make-model`: writes a small GGUF model with random weights for tests and benchmarks.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.h"
#include "cli/output_folder.h"
#include "engine/llama/llama_engine.h"
#include "testmodels/model_writer.h"
#include "testmodels/projector_writer.h"

namespace openbatch::cli {
namespace {

struct MakeModelOptions {
  std::string shape;
  std::string output;
  std::string mmproj_output;
  uint32_t seed = 0;
  std::string quantize = "f32";
  bool untamed = false;
};

int make_model(const MakeModelOptions& options) {
  // A vision shape is a text shape plus a projector.
  const testmodels::ProjectorShape* projector = testmodels::projector_shape_by_name(options.shape);
  if (projector != nullptr && options.mmproj_output.empty()) {
    std::fprintf(stderr, "make-model: shape %s writes a projector too: give --mmproj-output FILE\n",
                 options.shape.c_str());
    return 2;
  }
  if (projector == nullptr && !options.mmproj_output.empty()) {
    std::fprintf(stderr, "make-model: --mmproj-output needs a vision shape (such as tiny-vision)\n");
    return 2;
  }
  Result<testmodels::ModelShape> shape =
      testmodels::model_shape_by_name(projector != nullptr ? projector->text_shape : options.shape);
  if (!shape) {
    std::fprintf(stderr, "make-model: %s\n", shape.status().message().c_str());
    return 2;
  }
  Result<testmodels::WeightType> type = testmodels::weight_type_by_name(options.quantize);
  if (!type) {
    std::fprintf(stderr, "make-model: %s\n", type.status().message().c_str());
    return 2;
  }
  for (const std::string& path : {options.output, options.mmproj_output}) {
    if (Status s = create_parent_folder(path); !s) {
      std::fprintf(stderr, "make-model: %s\n", s.message().c_str());
      return 1;
    }
  }
  engine::set_llama_log_level_warn();
  const auto style = options.untamed ? testmodels::WeightStyle::kUntamed : testmodels::WeightStyle::kTamed;
  if (Status s = testmodels::write_random_model(*shape, options.seed, options.output, *type, style); !s) {
    std::fprintf(stderr, "make-model: %s\n", s.message().c_str());
    return 1;
  }
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(options.output, ec);
  const Result<int32_t> vocab = testmodels::vocab_size(*shape);
  const int32_t n_vocab = vocab ? *vocab : 0;
  std::fprintf(stderr, "make-model: wrote %s: shape %s, %lld params, %llu bytes, vocab %d, %s, seed %u%s\n",
               options.output.c_str(), shape->name.c_str(),
               static_cast<long long>(testmodels::parameter_count(*shape, n_vocab)),
               static_cast<unsigned long long>(ec ? 0 : bytes), n_vocab, options.quantize.c_str(),
               options.seed, options.untamed ? ", untamed" : "");
  if (projector != nullptr) {
    if (Status s = testmodels::write_random_projector(*projector, shape->n_embd, options.seed,
                                                      options.mmproj_output);
        !s) {
      std::fprintf(stderr, "make-model: %s\n", s.message().c_str());
      return 1;
    }
    const auto proj_bytes = std::filesystem::file_size(options.mmproj_output, ec);
    const uint32_t side = projector->image_size / projector->patch_size;
    const std::string tokens = projector->kind != testmodels::ProjectorKind::kLlava
                                   ? "one token per 2x2 patches of " + std::to_string(projector->patch_size) +
                                         " px, at the image's own size"
                                   : std::to_string(side * side) + " tokens an image, at " +
                                         std::to_string(projector->image_size) + "x" +
                                         std::to_string(projector->image_size);
    std::fprintf(stderr, "make-model: wrote %s: projector %s, %s, %llu bytes\n",
                 options.mmproj_output.c_str(), projector->name.c_str(), tokens.c_str(),
                 static_cast<unsigned long long>(ec ? 0 : proj_bytes));
  }
  return 0;
}

}  // namespace

void register_make_model(CLI::App& app) {
  auto options = std::make_shared<MakeModelOptions>();
  std::vector<std::string> shapes;
  for (const testmodels::ModelShape& shape : testmodels::model_shapes()) shapes.push_back(shape.name);
  for (const testmodels::ProjectorShape& shape : testmodels::projector_shapes()) shapes.push_back(shape.name);

  CLI::App* cmd = app.add_subcommand(
      "make-model",
      "Write a small GGUF model with random weights (llama architecture, byte-level BPE vocabulary, ChatML "
      "template, or a real model family's tokenizer and template) for tests and benchmarks; vision shapes "
      "add "
      "a projector (LLaVA-, Qwen2.5-VL- or Qwen3-VL-style; --mmproj-output). Same shape, seed and type: same "
      "file.");
  cmd->add_option("--shape", options->shape, "Model dimensions")->required()->check(CLI::IsMember(shapes));
  cmd->add_option("--output,-o", options->output, "GGUF file to write (replaced when complete)")->required();
  cmd->add_option("--mmproj-output", options->mmproj_output,
                  "Projector GGUF to write, for vision shapes (serve it with --mmproj)");
  cmd->add_option("--seed", options->seed, "Seed of the random weights")->capture_default_str();
  cmd->add_option("--quantize", options->quantize, "Weight type: f32, q8_0 or q4_k_m")
      ->check(CLI::IsMember({"f32", "q8_0", "q4_k_m"}))
      ->capture_default_str();
  cmd->add_flag(
      "--untamed", options->untamed,
      "Every tensor N(0, 0.02), as llama.cpp's own test models: near-uniform next-token choices, as a "
      "weak or badly quantised model's (answers do not end by themselves; the hard case for tool calls "
      "and JSON answers)");
  cmd->callback([options] {
    if (const int rc = make_model(*options); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
