// The dashboard's files (web/), compiled into the binary so that the server needs nothing beside it.
#pragma once

namespace openbatch::api {

// web/index.html: the batches page served at GET /.
extern const char* const kIndexHtml;

}  // namespace openbatch::api
