#include "distributed/dist_env.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace cxrl {
namespace {

int parse_int(const char* name, const char* text, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (!*text || *end || errno || v < lo || v > hi)
    throw std::invalid_argument(std::string(name) + "='" + text + "' is not an integer in [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]");
  return (int)v;
}

}  // namespace

DistEnv dist_env_from(const EnvLookup& lookup) {
  DistEnv e;
  const char* rank = lookup("RANK");
  const char* world = lookup("WORLD_SIZE");
  if (!rank && !world) return e;
  if (!rank || !world)
    throw std::invalid_argument(std::string("RANK and WORLD_SIZE go together (torchrun sets both); only ") +
                                (rank ? "RANK" : "WORLD_SIZE") + " is set");
  e.world_size = parse_int("WORLD_SIZE", world, 1, 1 << 20);
  e.rank = parse_int("RANK", rank, 0, e.world_size - 1);
  if (const char* local = lookup("LOCAL_RANK")) e.local_rank = parse_int("LOCAL_RANK", local, 0, e.world_size - 1);
  if (const char* addr = lookup("MASTER_ADDR")) {
    if (!*addr) throw std::invalid_argument("MASTER_ADDR is empty");
    e.master_addr = addr;
  }
  if (const char* port = lookup("MASTER_PORT")) e.master_port = parse_int("MASTER_PORT", port, 1, 65535);
  return e;
}

DistEnv dist_env_from_process() {
  return dist_env_from([](const char* name) { return std::getenv(name); });
}

}  // namespace cxrl
