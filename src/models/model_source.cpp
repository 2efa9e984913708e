#include "models/model_source.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string_view>

namespace openbatch::models {

namespace {

namespace fs = std::filesystem;

const char* const kSafeCharacters = "letters, digits, '.', '_' and '-'";

bool is_safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_safe_segment(std::string_view s) {
  return !s.empty() && s.size() <= 255 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), is_safe_char);
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

bool contains_ci(const std::string& text, const std::string& part) {
  return upper(text).find(upper(part)) != std::string::npos;
}

bool is_gguf(const std::string& file) {
  return file.size() > 5 && upper(file.substr(file.size() - 5)) == ".GGUF";
}

// `word` in text as a whole word, case-insensitively: not inside a longer run of letters, digits and
// underscores on its right (Q4_K is not Q4_K_M) nor of letters and digits on its left.
bool has_word(const std::string& text, const std::string& word) {
  const std::string t = upper(text), w = upper(word);
  for (size_t pos = t.find(w); pos != std::string::npos; pos = t.find(w, pos + 1)) {
    const size_t end = pos + w.size();
    const bool left = pos == 0 || !is_alnum(t[pos - 1]);
    const bool right = end == t.size() || (!is_alnum(t[end]) && t[end] != '_');
    if (left && right) return true;
  }
  return false;
}

const std::regex& split_pattern() {
  static const std::regex re(R"(^(.*)-(\d{5})-of-(\d{5})\.gguf$)", std::regex::icase);
  return re;
}

// The part number of a split file (1 for the first), or 0 for a file that is not split.
int split_index(const std::string& file) {
  std::smatch m;
  return std::regex_match(file, m, split_pattern()) ? std::stoi(m[2]) : 0;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Status with the same kind as s and a message that starts with prefix.
Status prefixed(const std::string& prefix, const Status& s) { return s.with_message(prefix + s.message()); }

// A refusal from the hub says how to send a token when none was sent.
Status with_token_hint(const Status& s, const HubOptions& o) {
  if ((!s.is_unauthenticated() && !s.is_permission_denied()) || !o.token.empty()) return s;
  return s.with_message(s.message() +
                        "; for a gated or private repository set HF_TOKEN to a token with access");
}

bool is_http_url(const std::string& url) {
  const std::string u = upper(url.substr(0, 8));
  return u.rfind("HTTP://", 0) == 0 || u.rfind("HTTPS://", 0) == 0;
}

// {models_dir}/_urls/{host}/{path} for a direct URL; the query and fragment are left out.
Result<std::string> url_cache_path(const std::string& models_dir, const std::string& url,
                                   const char* option) {
  if (!is_http_url(url)) {
    return Status::invalid_request(std::string(option) + " " + url +
                                   ": only http:// and https:// URLs are fetched");
  }
  const std::string rest = url.substr(url.find("://") + 3);
  const size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string host = rest.substr(0, authority_end);
  if (const size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  std::replace(host.begin(), host.end(), ':', '_');  // the port
  std::string path = rest.substr(authority_end);
  path = path.substr(0, std::min(path.find_first_of("?#"), path.size()));
  if (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (!is_safe_segment(host)) {
    return Status::invalid_request(std::string(option) + " " + url + ": the host '" + host +
                                   "' cannot name a cache directory (only " + kSafeCharacters + ")");
  }
  if (path.empty())
    return Status::invalid_request(std::string(option) + " " + url + ": the URL names no file");
  auto relative = safe_relative_path(path);
  if (!relative) return prefixed(std::string(option) + " " + url + ": ", relative.status());
  return (fs::path(models_dir) / "_urls" / host / *relative).string();
}

// The repository's file names from the hub's API.
Result<std::vector<std::string>> list_repository(const ModelDownloader& hub, const std::string& endpoint,
                                                 const HubRepo& repo) {
  auto body = hub.get(endpoint + "/api/models/" + repo.id());
  if (!body) return body.status();
  const nlohmann::json j = nlohmann::json::parse(*body, nullptr, false);
  if (!j.is_object() || !j.contains("siblings") || !j["siblings"].is_array()) {
    return Status::invalid_request("the hub's answer for " + repo.id() + " has no file list (siblings)");
  }
  std::vector<std::string> files;
  for (const auto& sibling : j["siblings"]) {
    if (sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string()) {
      files.push_back(sibling["rfilename"].get<std::string>());
    }
  }
  return files;
}

// The repository's complete files already in the cache (relative paths, sorted).
std::vector<std::string> cached_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() != ".part") {
      files.push_back(fs::relative(it->path(), dir, ec).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

HubOptions hub_options_from_env() {
  HubOptions o;
  const char* endpoint = std::getenv("HF_ENDPOINT");
  o.endpoint = endpoint != nullptr && endpoint[0] != '\0' ? endpoint : "https://huggingface.co";
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  const char* token = std::getenv("HF_TOKEN");
  o.token = token != nullptr ? token : "";
  const char* models = std::getenv("OPENBATCH_MODELS_DIR");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (models != nullptr && models[0] != '\0') {
    o.models_dir = models;
  } else if (xdg != nullptr && xdg[0] == '/') {  // the XDG spec ignores relative paths
    o.models_dir = (fs::path(xdg) / "openbatch" / "models").string();
  } else {
    o.models_dir = (fs::path(home != nullptr ? home : ".") / ".cache" / "openbatch" / "models").string();
  }
  return o;
}

Result<HubRepo> parse_hub_repo(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string repo = spec.substr(0, colon);
  const size_t slash = repo.find('/');
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos) {
    return Status::invalid_request("--hf-repo " + spec + ": expected OWNER/NAME or OWNER/NAME:QUANT");
  }
  HubRepo r{repo.substr(0, slash), repo.substr(slash + 1), ""};
  if (!is_safe_segment(r.owner) || !is_safe_segment(r.name)) {
    return Status::invalid_request("--hf-repo " + spec + ": the owner and the name may hold only " +
                                   kSafeCharacters);
  }
  if (colon != std::string::npos) {
    r.quant = spec.substr(colon + 1);
    if (!is_safe_segment(r.quant)) {
      return Status::invalid_request("--hf-repo " + spec + ": the quant after ':' may hold only " +
                                     kSafeCharacters);
    }
  }
  return r;
}

Result<std::string> safe_relative_path(const std::string& file) {
  size_t start = 0;
  while (true) {
    const size_t slash = file.find('/', start);
    const std::string_view segment = std::string_view(file).substr(start, slash - start);
    if (!is_safe_segment(segment)) {
      return Status::invalid_request("the file name '" + file +
                                     "' is not a safe relative path: '/'-separated names of " +
                                     kSafeCharacters + ", none empty, '.' or '..'");
    }
    if (slash == std::string::npos) return file;
    start = slash + 1;
  }
}

Result<std::string> choose_model_file(const std::vector<std::string>& files, const std::string& quant) {
  std::vector<std::string> candidates;
  for (const std::string& f : files) {
    if (is_gguf(f) && !contains_ci(f, "mmproj") && split_index(f) <= 1) candidates.push_back(f);
  }
  if (candidates.empty()) return Status::invalid_request("it has no .gguf model file");
  auto with_word = [&](const std::string& word) {
    return std::find_if(candidates.begin(), candidates.end(),
                        [&](const std::string& f) { return has_word(f, word); });
  };
  if (!quant.empty()) {
    if (auto it = with_word(quant); it != candidates.end()) return *it;
    return Status::invalid_request("no .gguf file for quant " + quant + "; it has " + join(candidates));
  }
  for (const char* preferred : {"Q4_K_M", "Q8_0"}) {
    if (auto it = with_word(preferred); it != candidates.end()) return *it;
  }
  return candidates.front();
}

std::string choose_projector_file(const std::vector<std::string>& files) {
  std::vector<std::string> projectors;
  for (const std::string& f : files) {
    if (is_gguf(f) && contains_ci(f, "mmproj")) projectors.push_back(f);
  }
  for (const char* preferred : {"F16", "BF16", "Q8_0", "F32"}) {
    for (const std::string& f : projectors) {
      if (has_word(f, preferred)) return f;
    }
  }
  return projectors.empty() ? "" : projectors.front();
}

std::vector<std::string> split_parts(const std::string& file) {
  std::smatch m;
  if (!std::regex_match(file, m, split_pattern()) || std::stoi(m[2]) != 1) return {file};
  const std::string prefix = m[1];
  const int count = std::stoi(m[3]);
  const std::string extension = file.substr(file.size() - 5);  // the name's own case of ".gguf"
  std::vector<std::string> parts;
  for (int i = 1; i <= count; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d", i, count);
    parts.push_back(prefix + suffix + extension);
  }
  return parts;
}

Result<ModelFiles> fetch_model_files(const ModelSource& source, const HubOptions& options) {
  ModelFiles out{source.model_path, source.mmproj_path};
  DownloadOptions direct_options = options.download;
  direct_options.bearer_token.clear();  // the hub's token is for the hub only
  const ModelDownloader direct(direct_options);

  // Direct URLs.
  const std::pair<const std::string*, std::string*> urls[] = {{&source.model_url, &out.model_path},
                                                              {&source.mmproj_url, &out.mmproj_path}};
  for (auto [url, path] : urls) {
    if (url->empty()) continue;
    auto cached =
        url_cache_path(options.models_dir, *url, url == &source.model_url ? "--model-url" : "--mmproj-url");
    if (!cached) return cached.status();
    if (Status s = direct.download(*url, *cached); !s) return s;
    *path = *cached;
  }
  if (source.hf_repo.empty()) return out;

  // A hub repository.
  auto repo = parse_hub_repo(source.hf_repo);
  if (!repo) return repo.status();
  if (!is_http_url(options.endpoint)) {
    return Status::invalid_request("HF_ENDPOINT " + options.endpoint + " is not an http:// or https:// URL");
  }
  const std::string what = "--hf-repo " + source.hf_repo + ": ";
  const std::string repo_dir = (fs::path(options.models_dir) / repo->owner / repo->name).string();
  DownloadOptions hub_options = options.download;
  hub_options.bearer_token = options.token;
  const ModelDownloader hub(hub_options);

  std::string model_file = source.hf_file;
  std::string projector_file = source.hf_mmproj_file;
  if (model_file.empty()) {
    auto files = list_repository(hub, options.endpoint, *repo);
    if (!files && files.status().is_unavailable()) {
      // No network: the files of this repository fetched earlier are the choice.
      std::vector<std::string> cached = cached_files(repo_dir);
      if (!choose_model_file(cached, repo->quant)) return prefixed(what, files.status());
      hub.log(what + "cannot list the repository (" + files.status().message() + "); choosing among " +
              repo_dir);
      files = std::move(cached);
    }
    if (!files) return prefixed(what, with_token_hint(files.status(), options));
    auto chosen = choose_model_file(*files, repo->quant);
    if (!chosen) return prefixed(what, chosen.status());
    model_file = *chosen;
    const bool projector_named =
        !source.mmproj_path.empty() || !source.mmproj_url.empty() || !projector_file.empty();
    if (!projector_named && !source.no_mmproj) projector_file = choose_projector_file(*files);
    hub.log(
        what + "taking " + model_file +
        (projector_file.empty() ? "" : " and the projector " + projector_file + " (--no-mmproj: text only)"));
  }

  auto fetch = [&](const std::string& file) -> Result<std::string> {
    auto relative = safe_relative_path(file);
    if (!relative) return prefixed(what, relative.status());
    const std::string path = (fs::path(repo_dir) / *relative).string();
    if (Status s = hub.download(options.endpoint + "/" + repo->id() + "/resolve/main/" + *relative, path);
        !s) {
      return with_token_hint(s, options);
    }
    return path;
  };
  const std::vector<std::string> parts = split_parts(model_file);
  for (const std::string& part : parts) {
    auto path = fetch(part);
    if (!path) return path.status();
    if (part == parts.front()) out.model_path = *path;
  }
  if (!projector_file.empty()) {
    auto path = fetch(projector_file);
    if (!path) return path.status();
    out.mmproj_path = *path;
  }
  return out;
}

}  // namespace openbatch::models
