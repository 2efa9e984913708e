// Interactive calls of a model this node does not serve, forwarded to a live node of the fleet that
// does (batch::BatchService::nodes_serving: each node records the URL it is reached at with its
// models). The call goes as the client sent it (its path, body and API key) with an
// `OpenBatch-Forwarded` header, and its answer comes back as that node gave it: a JSON body with its
// status, or, for a stream, the server-sent events as they come. A forwarded call is never forwarded
// again. Internal to api/.
#pragma once

#include <httplib.h>

#include <string>

#include "api/routes.h"

namespace openbatch::api {

// The header a forwarded call carries.
inline constexpr char kForwardedHeader[] = "OpenBatch-Forwarded";
// The longest a forwarded call may take, and the largest answer taken back whole (a stream's events
// are passed on as they come).
inline constexpr int kForwardTimeoutSeconds = 600;
inline constexpr size_t kMaxForwardedAnswerBytes = 256u << 20;

// Answers req by forwarding it to another live node that serves model, trying the next such node when
// one cannot be connected to; true when res holds the answer (a 503 when no such node answered). False,
// res untouched, when no other live node serves model, the fleet is not known, or req was forwarded
// to this node already. stream: the body asks for server-sent events.
bool forward_to_fleet(RouteContext& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& model, bool stream);

}  // namespace openbatch::api
