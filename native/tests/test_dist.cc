// The data-parallel groundwork on the CPU: torchrun's environment, the rank-0 rendezvous over
// localhost TCP, the flat gradient buffer, and gradient averaging through a collective whose ranks
// are threads of this process (each with different gradients).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "distributed/collective.h"
#include "distributed/dist_env.h"
#include "distributed/flat_gradients.h"
#include "distributed/rendezvous.h"
#include "harness.h"

namespace cxrl::test {
namespace {

DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return dist_env_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  return thrown_message<std::invalid_argument>([&] { env_of(vars); });
}

// A port the kernel reports free now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Ranks that are threads: all_reduce_sum adds every rank's tensor into a shared sum and hands it
// back once all have arrived (a barrier per call).
class ThreadRanks {
 public:
  explicit ThreadRanks(int world) : world_(world) {}
  class Rank final : public Collective {
   public:
    Rank(ThreadRanks* group, int rank) : group_(group), rank_(rank) {}
    const char* name() const override { return "threads"; }
    int rank() const override { return rank_; }
    int world_size() const override { return group_->world_; }
    void all_reduce_sum(Tensor* t) override { group_->sum(t); }

   private:
    ThreadRanks* group_;
    int rank_;
  };

 private:
  void sum(Tensor* t) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t generation = generation_;
    if (arrived_ == 0) total_ = Tensor(t->shape);
    for (int64_t i = 0; i < t->numel(); ++i) total_.v[i] += t->v[i];
    if (++arrived_ == world_) {
      arrived_ = 0, ++generation_;
      result_ = total_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    *t = result_;
  }
  int world_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
  Tensor total_, result_;
};

}  // namespace

TEST(dist_env_reads_torchrun_variables) {
  const DistEnv one = env_of({});
  CHECK(one.rank == 0 && one.world_size == 1, "no variables: one process");
  const DistEnv e = env_of(
      {{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29400"}});
  CHECK(e.rank == 2 && e.world_size == 4 && e.local_rank == 0 && e.master_addr == "node7" && e.master_port == 29400,
        "torchrun's variables misread");
  const std::string only_rank = error_of({{"RANK", "1"}});
  const std::string too_big = error_of({{"RANK", "4"}, {"WORLD_SIZE", "4"}});
  const std::string not_int = error_of({{"RANK", "0"}, {"WORLD_SIZE", "two"}});
  const std::string bad_port = error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}});
  std::printf("    errors: %s | %s | %s | %s\n", only_rank.c_str(), too_big.c_str(), not_int.c_str(), bad_port.c_str());
  CHECK(only_rank.find("only RANK is set") != std::string::npos, "RANK without WORLD_SIZE accepted");
  CHECK(too_big.find("RANK='4'") != std::string::npos, "RANK >= WORLD_SIZE accepted");
  CHECK(not_int.find("WORLD_SIZE='two'") != std::string::npos, "a non-integer WORLD_SIZE accepted");
  CHECK(bad_port.find("MASTER_PORT='70000'") != std::string::npos, "a port above 65535 accepted");
}

TEST(rendezvous_hands_rank0_payload_to_every_rank) {
  const int world = 4, port = free_port();
  std::vector<uint8_t> payload(128);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = (uint8_t)(i * 37 + 11);
  std::vector<std::vector<uint8_t>> got(world);
  std::vector<std::string> errors(world);
  std::vector<std::thread> ranks;
  for (int r = world - 1; r >= 0; --r)  // the others start first: they must wait for rank 0
    ranks.emplace_back([&, r] {
      try {
        DistEnv e;
        e.rank = r, e.world_size = world, e.master_addr = "127.0.0.1", e.master_port = port;
        got[r] = broadcast_from_rank0(e, r == 0 ? payload : std::vector<uint8_t>{}, 20);
      } catch (const std::exception& ex) {
        errors[r] = ex.what();
      }
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world; ++r) {
    CHECK(errors[r].empty(), "rank " + std::to_string(r) + ": " + errors[r]);
    CHECK(got[r] == payload, "rank " + std::to_string(r) + " received other bytes");
  }
  std::printf("    4 ranks over 127.0.0.1:%d received rank 0's %zu bytes\n", port, payload.size());

  DistEnv lonely;
  lonely.rank = 1, lonely.world_size = 2, lonely.master_addr = "127.0.0.1", lonely.master_port = free_port();
  std::string timeout;
  try {
    broadcast_from_rank0(lonely, {}, 0.3);
  } catch (const std::runtime_error& e) {
    timeout = e.what();
  }
  std::printf("    without rank 0: %s\n", timeout.c_str());
  CHECK(timeout.find("127.0.0.1:" + std::to_string(lonely.master_port)) != std::string::npos &&
            timeout.find("never accepted") != std::string::npos,
        "a missing rank 0 is not reported with its address");
}

TEST(flat_gradients_pack_and_unpack) {
  ParamStore ps;
  ps.add("a", {3, 4}, Init::kZeros, 0);
  ps.add("b", {5}, Init::kZeros, 0);
  std::vector<Param*> params;
  for (const auto& p : ps.all()) params.push_back(p.get());
  for (Param* p : params) p->grad = randn(p->value.shape);
  FlatGradients flat(params);
  CHECK(flat.numel() == 17, "buffer size");
  flat.pack();
  bool packed = true;
  for (int64_t i = 0; i < 12; ++i) packed &= flat.buffer().v[i] == params[0]->grad.v[i];
  for (int64_t i = 0; i < 5; ++i) packed &= flat.buffer().v[12 + i] == params[1]->grad.v[i];
  CHECK(packed, "pack does not lay the gradients end to end");
  const Tensor before = flat.buffer();
  flat.unpack(0.5f);
  bool halved = true;
  for (int64_t i = 0; i < 12; ++i) halved &= params[0]->grad.v[i] == 0.5f * before.v[i];
  for (int64_t i = 0; i < 5; ++i) halved &= params[1]->grad.v[i] == 0.5f * before.v[12 + i];
  CHECK(halved, "unpack does not scale each slice back into its gradient");
  ps.find("b")->trainable = false;
  bool refused = false;
  try {
    FlatGradients frozen(params);
  } catch (const std::invalid_argument&) {
    refused = true;
  }
  CHECK(refused, "a frozen parameter was packed");
}

// Three ranks with different gradients: after averaging, every rank holds the mean.
TEST(average_gradients_over_thread_ranks_gives_the_mean) {
  const int world = 3;
  ThreadRanks group(world);
  std::vector<Tensor> grads_a, grads_b;
  for (int r = 0; r < world; ++r) grads_a.push_back(randn({4, 3})), grads_b.push_back(randn({7}));
  std::vector<Tensor> out_a(world), out_b(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      ParamStore ps;
      ps.add("a", {4, 3}, Init::kZeros, 0)->grad = grads_a[r];
      ps.add("b", {7}, Init::kZeros, 0)->grad = grads_b[r];
      std::vector<Param*> params{ps.find("a"), ps.find("b")};
      FlatGradients flat(params);
      ThreadRanks::Rank rank(&group, r);
      average_gradients(flat, rank);
      out_a[r] = ps.find("a")->grad, out_b[r] = ps.find("b")->grad;
    });
  for (auto& t : threads) t.join();
  double worst = 0;
  for (int r = 0; r < world; ++r)
    for (auto [out, in] : {std::pair{&out_a, &grads_a}, std::pair{&out_b, &grads_b}})
      for (int64_t i = 0; i < (*out)[r].numel(); ++i) {
        double mean = 0;
        for (int q = 0; q < world; ++q) mean += (*in)[q].v[i];
        mean /= world;
        worst = std::max(worst, std::abs((*out)[r].v[i] - mean));
      }
  std::printf("    3 ranks, 19 gradient values each: max |averaged - mean| %.2e\n", worst);
  CHECK(worst < 1e-6, "averaged gradients differ from the mean over ranks");
}

TEST(open_collective_local_and_refusals) {
  DistEnv one;
  CHECK(std::string(open_collective(one, Device::kCpu)->name()) == "local", "one process is not local");
  DistEnv two;
  two.world_size = 2;
  std::string why;
  try {
    open_collective(two, Device::kCpu);
  } catch (const std::runtime_error& e) {
    why = e.what();
  }
  CHECK(why.find("MPI") != std::string::npos && why.find("WORLD_SIZE=2") != std::string::npos,
        "multi-process CPU training not refused in words: " + why);
}

}  // namespace cxrl::test
