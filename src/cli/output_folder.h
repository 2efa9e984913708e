// Every command that writes a file (make-model, prepare -o, results -o, run -o) first makes the folder
// the file goes in, so that `-o build/models/x.gguf` works on a fresh clone.
#pragma once

#include <string>

#include "common/status.h"

namespace openbatch::cli {

// Creates the folder that holds path, and the folders above it, when they are missing. OK when the
// folder exists or path names no folder ("out.jsonl", "-"). Otherwise an error that names the folder
// and why it cannot be made ("cannot create the folder 'a/b' for a/b/out.jsonl: Not a directory").
Status create_parent_folder(const std::string& path);

}  // namespace openbatch::cli
