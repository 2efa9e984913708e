// Keeps a libcurl transfer to the destinations a DestinationPolicy allows: every address curl is about
// to connect to (the first URL's and each redirect's, after its own name resolution) is checked, so a
// name that resolves differently a second time cannot slip past. Used by the image fetcher and the
// webhook sender.
#pragma once

#include <curl/curl.h>

#include <optional>

#include "net/destination_policy.h"
#include "net/ip_address.h"

namespace openbatch::net {

class ConnectCheck {
 public:
  // Installs the check on curl (CURLOPT_OPENSOCKETFUNCTION) and turns off proxies from the environment
  // (a proxy would connect for us, out of the check's sight).
  // REQUIRES: curl and policy outlive the transfer; this object outlives it too and does not move.
  ConnectCheck(CURL* curl, const DestinationPolicy& policy);
  ConnectCheck(const ConnectCheck&) = delete;
  ConnectCheck& operator=(const ConnectCheck&) = delete;

  // The range of the first address refused, if one was.
  const std::optional<AddressRange>& refused() const { return refused_; }

 private:
  static curl_socket_t open_socket(void* clientp, curlsocktype purpose, curl_sockaddr* addr);

  CURL* curl_;
  const DestinationPolicy& policy_;
  std::optional<AddressRange> refused_;
};

}  // namespace openbatch::net
