#include "cli/model_registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "openai/field_reader.h"

namespace openbatch::cli {

namespace {

using nlohmann::json;

// Keys whose values are files: relative ones are taken from the registry's folder.
constexpr const char* kPathKeys[] = {"model", "mmproj", "chat_template_file", "models_dir"};
// Options an entry may not set: its names are "id" and "aliases".
constexpr const char* kNameOptions[] = {"--model-id"};

struct EntryError {
  const std::string& path;
  std::string entry;  // "entry 2" until its id is known, then "model 'x'"

  Status operator()(const std::string& message) const {
    return Status::invalid_request(path + ": " + entry + ": " + message);
  }
  Status at(const std::string& key, const std::string& message) const {
    return (*this)("key \"" + key + "\": " + message);
  }
};

// A scalar as the option's command-line value.
Result<std::string> scalar_arg(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return json(v).dump();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  return Status::invalid_request("expected a string, a number or a boolean, got " +
                                 openai::json_type_phrase(v));
}

// The command-line arguments of one key, in order: --key VALUE, once per value of an array (for an
// option that takes several), --key=true|false for a flag.
Result<std::vector<std::string>> key_args(const CLI::Option& option, const std::string& flag,
                                          const json& value, const std::string& base_dir, bool is_path) {
  std::vector<std::string> args;
  auto add = [&](const json& v) -> Status {
    auto arg = scalar_arg(v);
    if (!arg) return arg.status();
    std::string text = *arg;
    if (is_path && !text.empty() && std::filesystem::path(text).is_relative())
      text = (std::filesystem::path(base_dir) / text).string();
    if (option.get_expected_min() == 0) {  // a flag
      if (!v.is_boolean())
        return Status::invalid_request("expected a boolean, got " + openai::json_type_phrase(v));
      args.push_back(flag + "=" + text);
    } else if (v.is_boolean()) {
      return Status::invalid_request("expected a string or a number, got a boolean");
    } else {
      args.push_back(flag);
      args.push_back(text);
    }
    return Status::ok();
  };
  if (value.is_array()) {
    if (option.get_multi_option_policy() != CLI::MultiOptionPolicy::TakeAll)
      return Status::invalid_request("expected one value, got an array");
    for (const json& v : value) {
      if (Status s = add(v); !s) return s;
    }
  } else if (Status s = add(value); !s) {
    return s;
  }
  return args;
}

// Parses args (in order) into options with serve's engine options; a usage error's message, or "".
std::string parse_engine_args(std::vector<std::string> args, EngineOptions& options, bool checks_between) {
  CLI::App app;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_engine_options(&app, options, "");
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::ExcludesError& e) {
    if (checks_between) return e.what();
  } catch (const CLI::RequiresError& e) {
    if (checks_between) return e.what();
  } catch (const CLI::Error& e) {
    return e.what();
  }
  return "";
}

// The entry's names: its id, then its aliases.
Result<std::vector<std::string>> entry_names(const json& entry, const EntryError& error) {
  auto id = entry.find("id");
  if (id == entry.end()) return error("\"id\" is required (the name clients use)");
  if (!id->is_string() || id->get_ref<const std::string&>().empty())
    return error.at("id", "expected a non-empty string, got " + openai::json_type_phrase(*id));
  std::vector<std::string> names = {id->get<std::string>()};
  if (auto aliases = entry.find("aliases"); aliases != entry.end()) {
    if (!aliases->is_array())
      return error.at("aliases", "expected an array of strings, got " + openai::json_type_phrase(*aliases));
    for (const json& alias : *aliases) {
      if (!alias.is_string() || alias.get_ref<const std::string&>().empty())
        return error.at("aliases", "expected non-empty strings, got " + openai::json_type_phrase(alias));
      names.push_back(alias.get<std::string>());
    }
  }
  return names;
}

Result<ModelEntry> parse_entry(const json& entry, const EntryError& error, const std::string& base_dir,
                               const EngineOptions& defaults) {
  if (!entry.is_object()) return error("expected an object, got " + openai::json_type_phrase(entry));
  auto names = entry_names(entry, error);
  if (!names) return names.status();
  const EntryError named{error.path, "model '" + names->front() + "'"};

  // Which key is which option: asked of the options themselves.
  EngineOptions scratch;
  CLI::App app;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_engine_options(&app, scratch, "");
  std::vector<std::string> args;
  for (const auto& [key, value] : entry.items()) {
    if (key == "id" || key == "aliases") continue;
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const CLI::Option* option = key.find('-') == std::string::npos ? app.get_option_no_throw(flag) : nullptr;
    if (option == nullptr || flag.size() < 4 ||
        std::find(std::begin(kNameOptions), std::end(kNameOptions), flag) != std::end(kNameOptions)) {
      return named.at(key,
                      "unknown key (the keys are \"id\", \"aliases\" and serve's engine options, e.g. "
                      "\"model\", \"mmproj\", \"parallel\", \"upstream\")");
    }
    const bool is_path = std::find_if(std::begin(kPathKeys), std::end(kPathKeys),
                                      [&](const char* k) { return key == k; }) != std::end(kPathKeys);
    auto key_arguments = key_args(*option, flag, value, base_dir, is_path);
    if (!key_arguments) return named.at(key, key_arguments.status().message());
    // Alone first, so that a bad value is reported with its key.
    EngineOptions alone = defaults;
    if (std::string e = parse_engine_args(*key_arguments, alone, false); !e.empty()) return named.at(key, e);
    args.insert(args.end(), key_arguments->begin(), key_arguments->end());
  }

  ModelEntry out;
  out.engine = defaults;
  if (std::string e = parse_engine_args(args, out.engine, true); !e.empty()) return named(e);
  const models::ModelSource& src = out.engine.source;
  if (src.model_path.empty() && src.hf_repo.empty() && src.model_url.empty() && !out.upstream())
    return named("a model source (\"model\", \"hf_repo\" or \"model_url\") or an \"upstream\" is required");
  try {
    require_model_source(out.engine);
  } catch (const CLI::ValidationError& e) {
    return named(e.what());
  }
  out.engine.llama.model_ids = std::move(names).value();
  return out;
}

}  // namespace

Result<std::vector<ModelEntry>> parse_model_registry(const json& registry, const std::string& path,
                                                     const std::string& base_dir,
                                                     const EngineOptions& defaults) {
  if (!registry.is_object())
    return Status::invalid_request(path + ": expected an object {\"models\": [...]}");
  for (const auto& [key, value] : registry.items()) {
    if (key != "models")
      return Status::invalid_request(path + ": unknown key \"" + key + "\" (expected \"models\")");
  }
  auto models = registry.find("models");
  if (models == registry.end() || !models->is_array() || models->empty())
    return Status::invalid_request(path + ": \"models\" must be an array of at least one model");
  if (models->size() > kMaxRegistryModels)
    return Status::invalid_request(path + ": more than " + std::to_string(kMaxRegistryModels) + " models");

  std::vector<ModelEntry> entries;
  std::map<std::string, std::string> owner;  // name -> the id of the model that has it
  for (size_t i = 0; i < models->size(); ++i) {
    auto entry =
        parse_entry((*models)[i], EntryError{path, "entry " + std::to_string(i + 1)}, base_dir, defaults);
    if (!entry) return entry.status();
    const std::vector<std::string>& names = entry->engine.llama.model_ids;
    for (const std::string& name : names) {
      auto [it, fresh] = owner.emplace(name, names.front());
      if (!fresh) {
        return Status::invalid_request(path + ": model '" + names.front() + "': the name '" + name +
                                       "' is already model '" + it->second + "''s");
      }
    }
    entries.push_back(std::move(entry).value());
  }
  return entries;
}

Result<std::vector<ModelEntry>> read_model_registry(const std::string& path, const EngineOptions& defaults) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid_request(path + ": cannot be read");
  json registry = json::parse(in, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (registry.is_discarded()) return Status::invalid_request(path + ": not valid JSON");
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_model_registry(registry, path, base_dir, defaults);
}

}  // namespace openbatch::cli
