// The one exchange processes need before a collective library takes over: rank 0 hands a few bytes
// (NCCL's unique id) to every other rank over TCP at MASTER_ADDR:MASTER_PORT.
#pragma once
#include <cstdint>
#include <vector>

#include "distributed/dist_env.h"

namespace cxrl {

// Rank 0 listens and sends `payload` to each of the other world_size - 1 ranks; the others connect
// (retrying until the listener is up) and receive it. Every rank returns the payload. Throws
// std::runtime_error naming the address when a peer does not arrive within timeout_seconds.
std::vector<uint8_t> broadcast_from_rank0(const DistEnv& env, const std::vector<uint8_t>& payload,
                                          double timeout_seconds = 300);

}  // namespace cxrl
