#include "openai/embeddings.h"

#include <openssl/evp.h>

#include <cstring>

#include "openai/field_reader.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // the objects built, keys in OpenAI's order

constexpr size_t kMaxInputs = 2048;  // OpenAI's limit on the inputs of one request

Status invalid_input(const std::string& why) {
  return Status::invalid_request("'$.input' is invalid: " + why, "input", "invalid_value");
}

// An array of token ids, or why it is not one.
Result<std::vector<int32_t>> token_ids(const json& array) {
  std::vector<int32_t> ids;
  for (const json& t : array) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX) {
      return invalid_input("token ids must be integers >= 0.");
    }
    ids.push_back(t.get<int32_t>());
  }
  return ids;
}

Status parse_input(const json& input, engine::EmbeddingRequest& out) {
  auto add_text = [&](const json& s) {
    if (s.get_ref<const std::string&>().empty()) return invalid_input("an input is an empty string.");
    out.inputs.push_back({s.get<std::string>(), {}});
    return Status::ok();
  };
  if (input.is_string()) return add_text(input);
  if (!input.is_array()) return invalid_type("input", "a string or an array", input);
  if (input.empty()) return invalid_input("the array is empty.");
  if (input.size() > kMaxInputs) {
    return invalid_input("at most " + std::to_string(kMaxInputs) + " inputs are allowed, got " +
                         std::to_string(input.size()) + ".");
  }
  if (input[0].is_number()) {  // one input, as token ids
    auto ids = token_ids(input);
    if (!ids) return ids.status();
    out.inputs.push_back({"", std::move(ids).value()});
    return Status::ok();
  }
  for (const json& item : input) {
    if (item.is_string()) {
      if (Status s = add_text(item); !s) return s;
    } else if (item.is_array()) {
      if (item.empty()) return invalid_input("an input is an empty array.");
      auto ids = token_ids(item);
      if (!ids) return ids.status();
      out.inputs.push_back({"", std::move(ids).value()});
    } else {
      return invalid_input("each item must be a string or an array of token ids.");
    }
  }
  return Status::ok();
}

std::string base64(const std::vector<float>& v) {
  static_assert(sizeof(float) == 4);
  std::string bytes(v.size() * 4, '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());  // little-endian on every host we build for
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

Result<EmbeddingsApiRequest> parse_embeddings_request(const json& body, const engine::ModelInfo& model) {
  EmbeddingsApiRequest req;
  auto named = served_model(body, model);
  if (!named) return named.status();
  req.model = std::move(named).value();
  req.embedding.model = req.model;
  auto input = body.find("input");
  if (input == body.end() || input->is_null()) return missing_parameter("input");
  if (Status s = parse_input(*input, req.embedding); !s) return s;

  FieldReader f(body);
  std::optional<std::string> format;
  if (Status s = f.string("encoding_format", format); !s) return s;
  if (format && *format != "float" && *format != "base64") {
    return Status::invalid_request(
        "Invalid value: '" + *format + "'. Supported values are: 'float' and 'base64'.", "encoding_format",
        "invalid_value");
  }
  req.base64 = format == "base64";
  std::optional<int64_t> dimensions;
  if (Status s = f.integer("dimensions", 1, INT32_MAX, dimensions); !s) return s;
  if (dimensions) req.dimensions = static_cast<int>(*dimensions);
  std::optional<std::string> user;
  if (Status s = f.string("user", user); !s) return s;
  return req;
}

Result<ojson> build_embeddings_response(const EmbeddingsApiRequest& request, const engine::Embeddings& e) {
  ojson data = ojson::array();
  for (size_t i = 0; i < e.vectors.size(); ++i) {
    std::vector<float> v = e.vectors[i];
    if (request.dimensions) {
      if (static_cast<size_t>(*request.dimensions) > v.size()) {
        return Status::invalid_request("Invalid 'dimensions': this model's embeddings have " +
                                           std::to_string(v.size()) + " dimensions, fewer than " +
                                           std::to_string(*request.dimensions) + ".",
                                       "dimensions", "invalid_value");
      }
      // Shortened as OpenAI's text-embedding-3 models are: cut, then scaled back to unit length.
      v.resize(static_cast<size_t>(*request.dimensions));
      engine::scale_to_unit_length(v);
    }
    ojson embedding = request.base64 ? ojson(base64(v)) : ojson(v);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return ojson{{"object", "list"},
               {"data", std::move(data)},
               {"model", request.model},
               {"usage", {{"prompt_tokens", e.prompt_tokens}, {"total_tokens", e.prompt_tokens}}}};
}

void run_embeddings(engine::Engine& engine, EmbeddingsApiRequest request, ChatCompletionDone done) {
  engine::EmbeddingRequest work = std::move(request.embedding);  // the response needs the rest only
  engine.embed(std::move(work),
               [request = std::move(request), done = std::move(done)](Result<engine::Embeddings> result) {
                 if (!result) return done(result.status());
                 done(build_embeddings_response(request, *result));
               });
}

}  // namespace openbatch::openai
