// Where the engine's model files come from: a local path, a Hugging Face-style hub repository
// (`--hf-repo OWNER/NAME[:QUANT]`), or a direct URL. Hub and URL files are downloaded once into a
// cache directory and reused from there, also with no network.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "models/model_downloader.h"

namespace openbatch::models {

// What the command line names; at most one model source and one projector source are set.
struct ModelSource {
  std::string model_path;      // --model
  std::string hf_repo;         // --hf-repo OWNER/NAME[:QUANT]
  std::string hf_file;         // --hf-file: the model's file in hf_repo (default: chosen by quant)
  std::string model_url;       // --model-url
  std::string mmproj_path;     // --mmproj
  std::string hf_mmproj_file;  // --hf-mmproj-file: the projector's file in hf_repo
  std::string mmproj_url;      // --mmproj-url
  bool no_mmproj = false;      // --no-mmproj: never take the repository's projector on its own
};

struct HubOptions {
  std::string endpoint;    // the hub's base URL, no trailing slash
  std::string token;       // sent to the hub as a bearer token; empty: none
  std::string models_dir;  // the cache's root
  DownloadOptions download;
};

// The endpoint from HF_ENDPOINT (default https://huggingface.co), the token from HF_TOKEN and the cache
// from OPENBATCH_MODELS_DIR, else $XDG_CACHE_HOME/openbatch/models, else ~/.cache/openbatch/models.
HubOptions hub_options_from_env();

// A repository named as `OWNER/NAME[:QUANT]`.
struct HubRepo {
  std::string owner;
  std::string name;
  std::string quant;  // empty: none asked for
  std::string id() const { return owner + "/" + name; }
};

// Parses spec. Owner, name and quant may hold only letters, digits, '.', '_' and '-' (and neither name
// is "." or ".."); errors are 400s that say what is wrong.
Result<HubRepo> parse_hub_repo(const std::string& spec);

// `file` as a path relative to a cache directory: '/'-separated segments of letters, digits, '.', '_'
// and '-', none empty, "." or "..". Errors are 400s naming the file.
Result<std::string> safe_relative_path(const std::string& file);

// The model file to take among a repository's files: a .gguf whose name has `quant` as a whole word
// (case-insensitive: `q4_k_m` picks `model-Q4_K_M.gguf`, and `Q4_K` does not pick it), or with no quant
// Q4_K_M, else Q8_0, else the first .gguf. Projectors (names with "mmproj") and the later parts of
// split files (`-00002-of-00003.gguf`) are never chosen. A 400 lists the .gguf files when none fits.
Result<std::string> choose_model_file(const std::vector<std::string>& files, const std::string& quant);

// The repository's projector: the .gguf with "mmproj" in its name, preferring F16, BF16, Q8_0, F32 in
// that order; empty when there is none.
std::string choose_projector_file(const std::vector<std::string>& files);

// The files a model file stands for: itself, or all parts of a split file when it is the first one
// (`x-00001-of-00003.gguf` gives the three; llama.cpp loads the rest beside the first).
std::vector<std::string> split_parts(const std::string& file);

// The local files of source, downloaded first where they come from a hub or a URL (progress and
// notes go to options.download.log). With a repository and no --hf-file, its file listing
// (`{endpoint}/api/models/{owner}/{name}`) picks the model file and, unless a projector is named or
// no_mmproj, the repository's projector too; when the listing cannot be fetched (no network), the
// choice is made among the repository's files already in the cache.
// Cache layout: `{models_dir}/{owner}/{name}/{file}` for hub files (`{endpoint}/{owner}/{name}/
// resolve/main/{file}`), `{models_dir}/_urls/{host}/{path}` for URLs.
// REQUIRES: exactly one of model_path, hf_repo and model_url is set (the command line checks it).
struct ModelFiles {
  std::string model_path;
  std::string mmproj_path;  // empty: none
};
Result<ModelFiles> fetch_model_files(const ModelSource& source, const HubOptions& options);

}  // namespace openbatch::models
