#include "models/model_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/http_status.h"
#include "common/temp_dir.h"
#include "media/image_server_for_test.h"
#include "models/hub_server_for_test.h"

namespace openbatch::models {
namespace {

namespace fs = std::filesystem;
using testing::file_bytes;
using testing::gguf_bytes;

TEST(ModelSourceChoiceTest, PicksTheQuantAsAWholeWordCaseInsensitively) {
  const std::vector<std::string> files = {"README.md",       "model-Q4_K.gguf",       "model-Q4_K_M.gguf",
                                          "model-q8_0.gguf", "mmproj-model-f16.gguf", "model-F16.gguf",
                                          "config.json"};
  EXPECT_EQ(*choose_model_file(files, "q4_k_m"), "model-Q4_K_M.gguf");
  EXPECT_EQ(*choose_model_file(files, "Q4_K"), "model-Q4_K.gguf");
  EXPECT_EQ(*choose_model_file(files, "Q8_0"), "model-q8_0.gguf");
  EXPECT_EQ(*choose_model_file(files, "f16"), "model-F16.gguf") << "never the projector";
  auto none = choose_model_file(files, "Q5_K_M");
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("no .gguf file for quant Q5_K_M; it has model-Q4_K.gguf, "
                                         "model-Q4_K_M.gguf, model-q8_0.gguf, model-F16.gguf"),
            std::string::npos)
      << none.status().message();
}

TEST(ModelSourceChoiceTest, WithNoQuantPrefersQ4KMThenQ8ThenTheFirst) {
  EXPECT_EQ(*choose_model_file({"a-F16.gguf", "a-Q8_0.gguf", "a-Q4_K_M.gguf"}, ""), "a-Q4_K_M.gguf");
  EXPECT_EQ(*choose_model_file({"a-F16.gguf", "a-Q8_0.gguf"}, ""), "a-Q8_0.gguf");
  EXPECT_EQ(*choose_model_file({"mmproj.gguf", "a-F16.gguf", "a-BF16.gguf"}, ""), "a-F16.gguf");
  EXPECT_FALSE(choose_model_file({"mmproj-a.gguf", "README.md"}, ""));
}

TEST(ModelSourceChoiceTest, SplitFilesAreChosenByTheirFirstPartAndFetchedWhole) {
  const std::vector<std::string> files = {"Q4_K_M/big-Q4_K_M-00002-of-00003.gguf",
                                          "Q4_K_M/big-Q4_K_M-00001-of-00003.gguf", "big-Q8_0.gguf"};
  EXPECT_EQ(*choose_model_file(files, ""), "Q4_K_M/big-Q4_K_M-00001-of-00003.gguf");
  EXPECT_EQ(split_parts("Q4_K_M/big-Q4_K_M-00001-of-00003.gguf"),
            (std::vector<std::string>{"Q4_K_M/big-Q4_K_M-00001-of-00003.gguf",
                                      "Q4_K_M/big-Q4_K_M-00002-of-00003.gguf",
                                      "Q4_K_M/big-Q4_K_M-00003-of-00003.gguf"}));
  EXPECT_EQ(split_parts("big-Q8_0.gguf"), std::vector<std::string>{"big-Q8_0.gguf"});
}

TEST(ModelSourceChoiceTest, TheProjectorPrefersF16) {
  EXPECT_EQ(choose_projector_file({"m.gguf", "mmproj-m-F32.gguf", "mmproj-m-BF16.gguf", "mmproj-m-f16.gguf"}),
            "mmproj-m-f16.gguf");
  EXPECT_EQ(choose_projector_file({"m.gguf", "mmproj-m-F32.gguf", "mmproj-m-BF16.gguf"}),
            "mmproj-m-BF16.gguf");
  EXPECT_EQ(choose_projector_file({"m.gguf", "m-mmproj.gguf"}), "m-mmproj.gguf");
  EXPECT_EQ(choose_projector_file({"m.gguf"}), "");
}

TEST(ModelSourceNamesTest, RepositoriesAndFilesMustBeSafeNames) {
  auto r = parse_hub_repo("Qwen/Qwen2.5-0.5B-Instruct-GGUF:q8_0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->owner, "Qwen");
  EXPECT_EQ(r->name, "Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r->quant, "q8_0");
  EXPECT_EQ(parse_hub_repo("a/b")->quant, "");
  for (const char* bad : {"noslash", "a/b/c", "../b", "a/..", "/b", "a/", "a b/c", "a/b:", "a/b:Q4 K",
                          "a/b:../x", "a\\b/c", "a/b%2e"}) {
    auto bad_repo = parse_hub_repo(bad);
    ASSERT_FALSE(bad_repo) << bad;
    EXPECT_EQ(http_status_of(bad_repo.status()), 400);
    EXPECT_NE(bad_repo.status().message().find(std::string("--hf-repo ") + bad), std::string::npos)
        << bad_repo.status().message();
  }
  EXPECT_EQ(*safe_relative_path("Q4_K_M/model-00001-of-00002.gguf"), "Q4_K_M/model-00001-of-00002.gguf");
  for (const char* bad : {"../model.gguf", "/etc/passwd", "a//b.gguf", "a/./b.gguf", "a/../b.gguf", "..", "",
                          "dir/", "model name.gguf", "model\n.gguf", "~/x.gguf"}) {
    auto p = safe_relative_path(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.status().message().find("is not a safe relative path"), std::string::npos);
  }
}

class ModelSourceTest : public ::testing::Test {
 protected:
  ModelSourceTest() {
    server_.add_file("owner/name", "README.md", "# a model");
    server_.add_file("owner/name", "model-Q8_0.gguf", q8_);
    server_.add_file("owner/name", "model-Q4_K_M.gguf", q4_);
    server_.add_file("owner/name", "mmproj-model-f16.gguf", projector_);
  }
  HubOptions options() {
    HubOptions o;
    o.endpoint = server_.url("");
    o.models_dir = dir_.path();
    o.download.log = [this](const std::string& line) { log_ += line + "\n"; };
    return o;
  }
  ModelSource repo(const std::string& spec, const std::string& file = "") {
    ModelSource s;
    s.hf_repo = spec;
    s.hf_file = file;
    return s;
  }
  std::string cached(const std::string& file) const { return dir_.path() + "/owner/name/" + file; }

  const std::string q8_ = gguf_bytes(3000, 1), q4_ = gguf_bytes(2000, 2), projector_ = gguf_bytes(1000, 3);
  testing::HubServer server_;
  TempDir dir_;
  std::string log_;
};

TEST_F(ModelSourceTest, AHubFileIsDownloadedIntoTheCacheOnceAndThenUsedOffline) {
  auto files = fetch_model_files(repo("owner/name", "model-Q8_0.gguf"), options());
  ASSERT_TRUE(files) << files.status().message();
  EXPECT_EQ(files->model_path, cached("model-Q8_0.gguf"));
  EXPECT_EQ(files->mmproj_path, "") << "with --hf-file, a projector only when named";
  EXPECT_EQ(file_bytes(files->model_path), q8_);
  EXPECT_EQ(server_.hits("/owner/name/resolve/main/model-Q8_0.gguf"), 1);
  EXPECT_EQ(server_.hits("/api/models/owner/name"), 0) << "--hf-file needs no listing";

  const int hits = server_.total_hits();
  HubOptions offline = options();
  offline.endpoint = "http://127.0.0.1:" + std::to_string(media::testing::closed_port());
  auto again = fetch_model_files(repo("owner/name", "model-Q8_0.gguf"), offline);
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ(again->model_path, files->model_path);
  auto by_quant = fetch_model_files(repo("owner/name:Q8_0"), offline);
  ASSERT_TRUE(by_quant) << by_quant.status().message();
  EXPECT_EQ(by_quant->model_path, files->model_path) << "the listing is down: chosen among the cached files";
  EXPECT_NE(log_.find("cannot list the repository"), std::string::npos) << log_;
  EXPECT_EQ(server_.total_hits(), hits);
  auto not_cached = fetch_model_files(repo("owner/name:Q4_K_M"), offline);
  ASSERT_FALSE(not_cached);
  EXPECT_NE(not_cached.status().message().find("--hf-repo owner/name:Q4_K_M: cannot get"), std::string::npos)
      << not_cached.status().message();
}

TEST_F(ModelSourceTest, TheListingPicksTheQuantAndTheProjector) {
  auto files = fetch_model_files(repo("owner/name"), options());
  ASSERT_TRUE(files) << files.status().message();
  EXPECT_EQ(files->model_path, cached("model-Q4_K_M.gguf"));
  EXPECT_EQ(files->mmproj_path, cached("mmproj-model-f16.gguf"));
  EXPECT_EQ(file_bytes(files->mmproj_path), projector_);
  EXPECT_NE(log_.find("taking model-Q4_K_M.gguf and the projector mmproj-model-f16.gguf"), std::string::npos)
      << log_;

  ModelSource q8 = repo("owner/name:q8_0");
  q8.no_mmproj = true;
  files = fetch_model_files(q8, options());
  ASSERT_TRUE(files) << files.status().message();
  EXPECT_EQ(files->model_path, cached("model-Q8_0.gguf"));
  EXPECT_EQ(files->mmproj_path, "");

  auto missing = fetch_model_files(repo("owner/name:Q2_K"), options());
  ASSERT_FALSE(missing);
  EXPECT_EQ(http_status_of(missing.status()), 400);
  EXPECT_NE(missing.status().message().find("--hf-repo owner/name:Q2_K: no .gguf file for quant Q2_K"),
            std::string::npos)
      << missing.status().message();
}

TEST_F(ModelSourceTest, ANamedProjectorAndSplitFilesAreFetched) {
  server_.add_file("owner/split", "big-00001-of-00002.gguf", gguf_bytes(500, 4));
  server_.add_file("owner/split", "big-00002-of-00002.gguf", gguf_bytes(500, 5));
  server_.add_file("owner/split", "proj.gguf", gguf_bytes(100, 6));
  ModelSource s = repo("owner/split");
  s.hf_mmproj_file = "proj.gguf";
  auto files = fetch_model_files(s, options());
  ASSERT_TRUE(files) << files.status().message();
  EXPECT_EQ(files->model_path, dir_.path() + "/owner/split/big-00001-of-00002.gguf");
  EXPECT_EQ(file_bytes(dir_.path() + "/owner/split/big-00002-of-00002.gguf"), gguf_bytes(500, 5));
  EXPECT_EQ(files->mmproj_path, dir_.path() + "/owner/split/proj.gguf");
}

TEST_F(ModelSourceTest, MissingRepositoriesAndFilesAreNotFound) {
  auto no_repo = fetch_model_files(repo("owner/other"), options());
  ASSERT_FALSE(no_repo);
  EXPECT_EQ(http_status_of(no_repo.status()), 404);
  EXPECT_NE(no_repo.status().message().find("--hf-repo owner/other: cannot get " +
                                            server_.url("/api/models/owner/other")),
            std::string::npos)
      << no_repo.status().message();
  auto no_file = fetch_model_files(repo("owner/name", "nope.gguf"), options());
  ASSERT_FALSE(no_file);
  EXPECT_EQ(http_status_of(no_file.status()), 404);
  EXPECT_FALSE(fs::exists(cached("nope.gguf")));
}

TEST_F(ModelSourceTest, UnsafeNamesFromTheCommandLineOrTheListingAreRefused) {
  server_.add_file("owner/evil", "../../escaped.gguf", gguf_bytes(100));
  auto listed = fetch_model_files(repo("owner/evil"), options());
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.status().message().find("'../../escaped.gguf' is not a safe relative path"),
            std::string::npos)
      << listed.status().message();
  auto named = fetch_model_files(repo("owner/name", "../name/model-Q8_0.gguf"), options());
  ASSERT_FALSE(named);
  EXPECT_EQ(http_status_of(named.status()), 400);
  EXPECT_EQ(server_.total_hits(), 1) << "only the listing was asked for";
  EXPECT_FALSE(fs::exists(dir_.path() + "/escaped.gguf"));
  EXPECT_FALSE(fs::exists(fs::path(dir_.path()).parent_path() / "escaped.gguf"));
}

TEST_F(ModelSourceTest, AModelUrlIsCachedUnderItsHostAndPath) {
  ModelSource s;
  s.model_url = server_.url("/cdn/owner/name/model-Q8_0.gguf?download=true");
  s.mmproj_url = server_.url("/cdn/owner/name/mmproj-model-f16.gguf");
  HubOptions o = options();
  o.token = "hf_secret";
  auto files = fetch_model_files(s, o);
  ASSERT_TRUE(files) << files.status().message();
  const std::string host = "127.0.0.1_" + std::to_string(server_.port());
  EXPECT_EQ(files->model_path, dir_.path() + "/_urls/" + host + "/cdn/owner/name/model-Q8_0.gguf");
  EXPECT_EQ(files->mmproj_path, dir_.path() + "/_urls/" + host + "/cdn/owner/name/mmproj-model-f16.gguf");
  EXPECT_EQ(file_bytes(files->model_path), q8_);
  EXPECT_EQ(server_.authorization("/cdn/owner/name/model-Q8_0.gguf"), "")
      << "the hub's token stays with the hub";

  s = ModelSource();
  s.model_url = server_.url("/cdn/../model.gguf");
  auto bad = fetch_model_files(s, o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("--model-url"), std::string::npos) << bad.status().message();
  s.model_url = "file:///etc/passwd";
  EXPECT_FALSE(fetch_model_files(s, o));
}

TEST(ModelSourceEnvTest, TheHubAndTheCacheComeFromTheEnvironment) {
  const char* home = std::getenv("HOME");
  const std::string saved_home = home != nullptr ? home : "";
  ::setenv("HF_ENDPOINT", "http://mirror.example/", 1);
  ::setenv("HF_TOKEN", "hf_x", 1);
  ::unsetenv("OPENBATCH_MODELS_DIR");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  HubOptions o = hub_options_from_env();
  EXPECT_EQ(o.endpoint, "http://mirror.example");
  EXPECT_EQ(o.token, "hf_x");
  EXPECT_EQ(o.models_dir, "/xdg/openbatch/models");
  ::setenv("OPENBATCH_MODELS_DIR", "/models", 1);
  EXPECT_EQ(hub_options_from_env().models_dir, "/models");
  ::unsetenv("OPENBATCH_MODELS_DIR");
  ::unsetenv("XDG_CACHE_HOME");
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HF_TOKEN");
  ::setenv("HOME", "/home/u", 1);
  o = hub_options_from_env();
  EXPECT_EQ(o.endpoint, "https://huggingface.co");
  EXPECT_EQ(o.token, "");
  EXPECT_EQ(o.models_dir, "/home/u/.cache/openbatch/models");
  ::setenv("HOME", saved_home.c_str(), 1);
}

}  // namespace
}  // namespace openbatch::models
