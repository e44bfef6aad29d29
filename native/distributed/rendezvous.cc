#include "distributed/rendezvous.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace cxrl {
namespace {

using Clock = std::chrono::steady_clock;

// Closes the descriptor when it goes out of scope.
struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  ~Socket() {
    if (fd >= 0) close(fd);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
};

std::string where(const DistEnv& e) { return e.master_addr + ":" + std::to_string(e.master_port); }

[[noreturn]] void fail(const DistEnv& e, const std::string& what) {
  throw std::runtime_error("rendezvous at " + where(e) + " (rank " + std::to_string(e.rank) + " of " +
                           std::to_string(e.world_size) + "): " + what);
}

void send_all(const DistEnv& e, int fd, const void* data, size_t n) {
  const char* p = (const char*)data;
  while (n) {
    const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) fail(e, std::string("send failed: ") + std::strerror(errno));
    p += k, n -= (size_t)k;
  }
}

void recv_all(const DistEnv& e, int fd, void* data, size_t n, Clock::time_point deadline) {
  char* p = (char*)data;
  while (n) {
    pollfd pfd{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) fail(e, "timed out waiting for data");
    const ssize_t k = recv(fd, p, n, 0);
    if (k <= 0) fail(e, "the connection closed early");
    p += k, n -= (size_t)k;
  }
}

// Length-prefixed (4 bytes, little-endian) payload.
void send_payload(const DistEnv& e, int fd, const std::vector<uint8_t>& payload) {
  const uint32_t n = (uint32_t)payload.size();
  const uint8_t len[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
  send_all(e, fd, len, 4);
  send_all(e, fd, payload.data(), payload.size());
}

std::vector<uint8_t> serve(const DistEnv& e, const std::vector<uint8_t>& payload, Clock::time_point deadline) {
  Socket listener(socket(AF_INET6, SOCK_STREAM, 0));
  if (listener.fd < 0) fail(e, std::string("socket: ") + std::strerror(errno));
  const int yes = 1, no = 0;
  setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  setsockopt(listener.fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);  // IPv4 peers too
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons((uint16_t)e.master_port);
  if (bind(listener.fd, (sockaddr*)&addr, sizeof addr) != 0) fail(e, std::string("bind: ") + std::strerror(errno));
  if (listen(listener.fd, e.world_size) != 0) fail(e, std::string("listen: ") + std::strerror(errno));
  for (int served = 1; served < e.world_size; ++served) {
    pollfd pfd{listener.fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
      fail(e, std::to_string(e.world_size - served) + " rank(s) never connected");
    Socket peer(accept(listener.fd, nullptr, nullptr));
    if (peer.fd < 0) fail(e, std::string("accept: ") + std::strerror(errno));
    send_payload(e, peer.fd, payload);
  }
  return payload;
}

std::vector<uint8_t> fetch(const DistEnv& e, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(e.master_addr.c_str(), std::to_string(e.master_port).c_str(), &hints, &found);
  if (rc != 0) fail(e, std::string("cannot resolve MASTER_ADDR: ") + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, freeaddrinfo);
  while (true) {  // rank 0 may not be listening yet
    for (addrinfo* a = found; a; a = a->ai_next) {
      Socket s(socket(a->ai_family, a->ai_socktype, a->ai_protocol));
      if (s.fd < 0 || connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) continue;
      uint8_t len[4];
      recv_all(e, s.fd, len, 4, deadline);
      const uint32_t n = len[0] | (uint32_t)len[1] << 8 | (uint32_t)len[2] << 16 | (uint32_t)len[3] << 24;
      std::vector<uint8_t> payload(n);
      recv_all(e, s.fd, payload.data(), n, deadline);
      return payload;
    }
    if (Clock::now() >= deadline) fail(e, "rank 0 never accepted a connection");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::vector<uint8_t> broadcast_from_rank0(const DistEnv& env, const std::vector<uint8_t>& payload,
                                          double timeout_seconds) {
  if (env.world_size == 1) return payload;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  return env.rank == 0 ? serve(env, payload, deadline) : fetch(env, deadline);
}

}  // namespace cxrl
