#include "cli/model_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace openbatch::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A folder with a registry's model files (empty: only their names are checked here).
class ModelRegistryTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("openbatch_registry_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* name : {"a.gguf", "b.gguf", "v.gguf", "v-mmproj.gguf"})
      std::ofstream(dir_ / name) << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<std::vector<ModelEntry>> parse(const json& registry, const EngineOptions& defaults = {}) {
    return parse_model_registry(registry, "models.json", dir_.string(), defaults);
  }

  fs::path dir_;
};

TEST_F(ModelRegistryTest, EachEntryIsWhatItsFlagsWouldBe) {
  EngineOptions defaults;
  defaults.llama.threads = 3;  // from the command line: every entry's unless it says otherwise
  auto entries = parse(json::parse(R"({"models": [
      {"id": "small", "aliases": ["gpt-4o-mini", "mini"], "model": "a.gguf", "parallel": 4, "ctx_size": 8192},
      {"id": "other", "model": "b.gguf", "threads": 1, "cascade": "off"},
      {"id": "eyes", "model": "v.gguf", "mmproj": "v-mmproj.gguf", "image_allow_private": true},
      {"id": "big", "upstream": ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"],
       "upstream_model": "llama-70b", "upstream_retries": 2}]})"),
                       defaults);
  ASSERT_TRUE(entries.is_ok()) << entries.status().message();
  ASSERT_EQ(entries->size(), 4u);
  const EngineOptions& small = (*entries)[0].engine;
  EXPECT_EQ(small.llama.model_ids, (std::vector<std::string>{"small", "gpt-4o-mini", "mini"}));
  EXPECT_EQ(small.source.model_path, (dir_ / "a.gguf").string());  // relative to the registry's folder
  EXPECT_EQ(small.llama.parallel, 4);
  EXPECT_EQ(small.llama.ctx_size, 8192);
  EXPECT_EQ(small.llama.threads, 3);
  EXPECT_FALSE((*entries)[0].upstream());
  const EngineOptions& other = (*entries)[1].engine;
  EXPECT_EQ(other.llama.threads, 1);
  EXPECT_EQ(other.llama.cascade, engine::CascadeAttention::kOff);
  EXPECT_EQ(other.llama.parallel, EngineOptions{}.llama.parallel);
  const EngineOptions& eyes = (*entries)[2].engine;
  EXPECT_EQ(eyes.source.mmproj_path, (dir_ / "v-mmproj.gguf").string());
  EXPECT_TRUE(eyes.images.fetch.destinations.allow_private);
  EXPECT_FALSE(small.images.fetch.destinations.allow_private);
  const ModelEntry& big = (*entries)[3];
  EXPECT_TRUE(big.upstream());
  EXPECT_EQ(big.engine.upstream.base_urls,
            (std::vector<std::string>{"http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"}));
  EXPECT_EQ(big.engine.upstream.model, "llama-70b");
  EXPECT_EQ(big.engine.upstream.max_attempts, 2);
  EXPECT_EQ(big.engine.llama.model_ids, std::vector<std::string>{"big"});
}

TEST_F(ModelRegistryTest, AnAbsolutePathStaysAndASingleUpstreamMayBeAString) {
  const std::string absolute = (dir_ / "b.gguf").string();
  auto entries =
      parse({{"models",
              {{{"id", "b"}, {"model", absolute}}, {{"id", "u"}, {"upstream", "http://127.0.0.1:9/v1"}}}}});
  ASSERT_TRUE(entries.is_ok()) << entries.status().message();
  EXPECT_EQ((*entries)[0].engine.source.model_path, absolute);
  EXPECT_EQ((*entries)[1].engine.upstream.base_urls, std::vector<std::string>{"http://127.0.0.1:9/v1"});
}

// Each malformed registry, and what its message must say: the file, the entry and the key.
TEST_F(ModelRegistryTest, AMalformedRegistryIsAUsageErrorNamingTheEntryAndTheKey) {
  const struct {
    const char* registry;
    const char* message;
  } cases[] = {
      {R"([])", "models.json: expected an object"},
      {R"({"models": []})", "\"models\" must be an array of at least one model"},
      {R"({"models": [{"id": "a", "model": "a.gguf"}], "default": "a"})", "unknown key \"default\""},
      {R"({"models": [{"model": "a.gguf"}]})", "entry 1: \"id\" is required"},
      {R"({"models": [{"id": 5, "model": "a.gguf"}]})", "entry 1: key \"id\": expected a non-empty string"},
      {R"({"models": [{"id": "a", "aliases": "x", "model": "a.gguf"}]})",
       "entry 1: key \"aliases\": expected an array of strings"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "colour": "red"}]})",
       "model 'a': key \"colour\": unknown key"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "model-url": "x"}]})", "key \"model-url\": unknown key"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "model_id": "b"}]})", "key \"model_id\": unknown key"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "port": 80}]})", "key \"port\": unknown key"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "parallel": "four"}]})",
       "model 'a': key \"parallel\": "},
      {R"({"models": [{"id": "a", "model": "a.gguf", "parallel": true}]})",
       "key \"parallel\": expected a string or a number, got a boolean"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "parallel": [1, 2]}]})",
       "key \"parallel\": expected one value, got an array"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "no_mmproj": "yes"}]})",
       "key \"no_mmproj\": expected a boolean, got a string"},
      {R"({"models": [{"id": "a", "upstream": {"url": "x"}}]})", "key \"upstream\": expected a string"},
      {R"({"models": [{"id": "a", "model": "missing.gguf"}]})", "model 'a': key \"model\": "},
      {R"({"models": [{"id": "a", "parallel": 2}]})",
       "model 'a': a model source (\"model\", \"hf_repo\" or \"model_url\") or an \"upstream\" is required"},
      {R"({"models": [{"id": "a", "model": "a.gguf", "upstream": "http://127.0.0.1:9/v1"}]})", "model 'a': "},
      {R"({"models": [{"id": "a", "model": "a.gguf", "hf_file": "x.gguf"}]})", "model 'a': "},
      {R"({"models": [{"id": "a", "hf_repo": "no-slash"}]})", "model 'a': "},
      {R"({"models": [{"id": "a", "model": "a.gguf"}, {"id": "a", "model": "b.gguf"}]})",
       "model 'a': the name 'a' is already model 'a''s"},
      {R"({"models": [{"id": "a", "aliases": ["mini"], "model": "a.gguf"},
                      {"id": "b", "aliases": ["mini"], "model": "b.gguf"}]})",
       "model 'b': the name 'mini' is already model 'a''s"},
  };
  for (const auto& c : cases) {
    auto entries = parse(json::parse(c.registry));
    ASSERT_FALSE(entries.is_ok()) << c.registry;
    EXPECT_TRUE(entries.status().is_invalid_argument()) << c.registry;
    EXPECT_NE(entries.status().message().find(c.message), std::string::npos)
        << c.registry << "\n  said: " << entries.status().message();
    EXPECT_EQ(entries.status().message().rfind("models.json: ", 0), 0u) << entries.status().message();
  }
}

TEST_F(ModelRegistryTest, AFileThatCannotBeReadOrIsNotJsonIsAUsageError) {
  EXPECT_NE(read_model_registry((dir_ / "none.json").string(), {}).status().message().find("cannot be read"),
            std::string::npos);
  std::ofstream(dir_ / "bad.json") << "{\"models\": [";
  EXPECT_NE(read_model_registry((dir_ / "bad.json").string(), {}).status().message().find("not valid JSON"),
            std::string::npos);
  std::ofstream(dir_ / "good.json") << R"({"models": [{"id": "a", "model": "a.gguf"}]})";
  auto entries = read_model_registry((dir_ / "good.json").string(), {});
  ASSERT_TRUE(entries.is_ok()) << entries.status().message();
  EXPECT_EQ((*entries)[0].engine.source.model_path, (dir_ / "a.gguf").string());
}

}  // namespace
}  // namespace openbatch::cli
