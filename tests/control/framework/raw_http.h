// HTTP/1.1 requests written byte for byte, for the API tests that need what a library client
// never sends: a POST without Content-Length (as curl -X POST sends it), a body on a GET, any Host,
// Origin or Content-Type, several requests on one connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/control/framework/response_log.h"

namespace privlink::control::testing {

struct RawResponse {
  int status = 0;                              // 0: no answer
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  nlohmann::json json;  // the body parsed, or discarded if it is not JSON
};

// A request's text: the request line, `headers` as given, Content-Length when `body` is given
// (none otherwise), then the body.
inline std::string RawRequestText(const std::string& method, const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::optional<std::string>& body) {
  std::string text = method + " " + path + " HTTP/1.1\r\n";
  for (const auto& [name, value] : headers) text += name + ": " + value + "\r\n";
  if (body) text += "Content-Length: " + std::to_string(body->size()) + "\r\n";
  text += "\r\n";
  if (body) text += *body;
  return text;
}

// One TCP connection to 127.0.0.1:`port`, kept open across requests (10 s receive timeout).
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool Send(const std::string& text) {
    return fd_ >= 0 &&
           ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // Bytes until the end of one response (its head and Content-Length bytes of body, or its last
  // chunk) or, with `to_close`, until the server closes the connection.
  std::string Read(bool to_close) {
    std::string reply;
    char buf[4096];
    while (fd_ >= 0 && (to_close || !Complete(reply))) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
    return reply;
  }

 private:
  // Whether `reply` holds a whole response.
  static bool Complete(const std::string& reply) {
    const size_t head_end = reply.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const std::string head = Lower(reply.substr(0, head_end));
    if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      return reply.ends_with("\r\n0\r\n\r\n");  // the last chunk, no trailers
    }
    const size_t at = head.find("\r\ncontent-length: ");
    const size_t length = at == std::string::npos ? 0 : std::stoul(reply.substr(at + 18));
    return reply.size() >= head_end + 4 + length;
  }
  static std::string Lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  int fd_;
};

// Sends `text` on a new connection, reads until the server closes it (or 10 s pass) and returns
// every byte read.
inline std::string RawExchange(int port, const std::string& text) {
  RawConnection connection(port);
  return connection.Send(text) ? connection.Read(true) : std::string();
}

// Every response in `reply`, in order (bodies framed by Content-Length or sent chunked).
inline std::vector<RawResponse> ParseRawResponses(std::string reply) {
  std::vector<RawResponse> out;
  while (reply.starts_with("HTTP/1.1 ")) {
    const size_t head_end = reply.find("\r\n\r\n");
    if (head_end == std::string::npos) break;
    RawResponse r;
    r.status = std::stoi(reply.substr(9, 3));
    size_t line = reply.find("\r\n") + 2;
    while (line < head_end) {
      const size_t eol = reply.find("\r\n", line);
      const std::string header = reply.substr(line, eol - line);
      const size_t colon = header.find(':');
      std::string name = header.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = header.substr(header.find_first_not_of(' ', colon + 1));
      line = eol + 2;
    }
    size_t end = head_end + 4;
    if (r.headers["transfer-encoding"] == "chunked") {
      // Chunks ("<hex size>\r\n<data>\r\n") until one of size 0, then "\r\n" (no trailers).
      while (end < reply.size()) {
        const size_t eol = reply.find("\r\n", end);
        if (eol == std::string::npos) break;
        const size_t size = std::stoul(reply.substr(end, eol - end), nullptr, 16);
        r.body += reply.substr(eol + 2, size);
        end = eol + 2 + size + 2;
        if (size == 0) break;
      }
    } else {
      const size_t length =
          r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
      r.body = reply.substr(end, length);
      end += length;
    }
    r.json = nlohmann::json::parse(r.body, nullptr, false);
    reply.erase(0, std::min(end, reply.size()));
    out.push_back(std::move(r));
  }
  return out;
}

// One request on its own connection ("Connection: close" added); the first response, logged for
// the OpenAPI contract check (response_log.h).
inline RawResponse RawHttp(int port, const std::string& method, const std::string& path,
                           std::vector<std::pair<std::string, std::string>> headers,
                           const std::optional<std::string>& body = std::nullopt) {
  headers.emplace_back("Connection", "close");
  std::vector<RawResponse> responses =
      ParseRawResponses(RawExchange(port, RawRequestText(method, path, headers, body)));
  if (responses.empty()) return RawResponse{};
  RawResponse& r = responses.front();
  LogApiResponse(method, path, r.status, r.headers["content-type"], r.body);
  return std::move(r);
}

}  // namespace privlink::control::testing
