// For tests: the text model and projector of a projector shape (projector_writer.h), written once with
// random weights into a temporary folder, which goes with the object.
#pragma once

#include <string>

#include "common/status.h"
#include "common/temp_dir.h"
#include "testmodels/model_writer.h"
#include "testmodels/projector_writer.h"

namespace openbatch::testmodels {

class VisionPairForTest {
 public:
  // Writes NAME.gguf and NAME-mmproj.gguf for the projector shape `name`; status() says whether it could.
  explicit VisionPairForTest(const std::string& name)
      : model_path_(dir_.path() + "/" + name + ".gguf"),
        mmproj_path_(dir_.path() + "/" + name + "-mmproj.gguf") {
    const ProjectorShape* shape = projector_shape_by_name(name);
    if (shape == nullptr) {
      status_ = Status::invalid_request("no projector shape " + name);
      return;
    }
    auto text = model_shape_by_name(shape->text_shape);
    if (!text) {
      status_ = text.status();
      return;
    }
    status_ = write_random_model(*text, 1, model_path_);
    if (status_.is_ok()) status_ = write_random_projector(*shape, text->n_embd, 1, mmproj_path_);
  }

  const Status& status() const { return status_; }
  const std::string& model_path() const { return model_path_; }
  const std::string& mmproj_path() const { return mmproj_path_; }
  // A path for another file in the pair's folder.
  std::string path_of(const std::string& file) const { return dir_.path() + "/" + file; }

 private:
  TempDir dir_;
  std::string model_path_;
  std::string mmproj_path_;
  Status status_;
};

}  // namespace openbatch::testmodels
