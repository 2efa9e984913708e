#include "net/connect_check.h"

#include <sys/socket.h>

#include <memory>
#include <string>

namespace openbatch::net {
namespace {

// The host of the URL being fetched now (after redirects), as the URL spells it; "" if unknown.
std::string current_host(CURL* curl) {
  char* effective = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK || effective == nullptr)
    return "";
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  char* host = nullptr;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, effective, 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    return "";
  }
  std::string out(host);
  curl_free(host);
  return out;
}

}  // namespace

ConnectCheck::ConnectCheck(CURL* curl, const DestinationPolicy& policy) : curl_(curl), policy_(policy) {
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, this);
}

curl_socket_t ConnectCheck::open_socket(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
  auto* check = static_cast<ConnectCheck*>(clientp);
  if (purpose == CURLSOCKTYPE_IPCXN) {
    const auto address = ip_address_of(&addr->addr, addr->addrlen);
    if (!address) {
      check->refused_ = AddressRange::kReserved;
      return CURL_SOCKET_BAD;
    }
    const DestinationPolicy& policy = check->policy_;
    if (!policy.allows(policy.names_hosts() ? current_host(check->curl_) : "", *address)) {
      if (!check->refused_) check->refused_ = classify(*address);
      return CURL_SOCKET_BAD;  // curl tries the name's other addresses, if any, else fails to connect
    }
  }
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

}  // namespace openbatch::net
