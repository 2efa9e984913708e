// GET and DELETE /v1/responses/{id}: responses are not stored (POST /v1/responses is one of the
// endpoint routes), so there is nothing to read back or delete; the answer says so.
#include "api/routes.h"

namespace openbatch::api {

void register_responses_routes(httplib::Server& server, RouteContext& /*ctx*/) {
  // Responses are not kept, so there is none to read back: say so rather than a bare 404.
  auto not_stored = [](const httplib::Request& req, httplib::Response& res) {
    send_error(res, Status::not_found("No response with id '" + std::string(req.matches[1]) +
                                          "': this server does not store responses.",
                                      "response_id"));
  };
  server.Get(R"(/v1/responses/([^/]+))", not_stored);
  server.Delete(R"(/v1/responses/([^/]+))", not_stored);
}

}  // namespace openbatch::api
