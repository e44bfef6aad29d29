// The process group a run belongs to, read from torchrun's environment (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT). None of them set: one process, rank 0 of 1.
#pragma once
#include <functional>
#include <string>

namespace cxrl {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// Where the variables come from: std::getenv in a run, a table in tests.
using EnvLookup = std::function<const char*(const char*)>;

// Throws std::invalid_argument naming the variable when a value is not an integer in range, when
// RANK and WORLD_SIZE are not set together, or when RANK >= WORLD_SIZE.
DistEnv dist_env_from(const EnvLookup& lookup);
DistEnv dist_env_from_process();

}  // namespace cxrl
