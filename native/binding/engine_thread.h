// The one thread that runs the engine's long asynchronous passes (UNet forward/backward). libuv
// hands each async call to whichever of its workers is free, and glibc gives every thread its own
// malloc arena, each of which then kept a whole pass's freed activations: with four workers, four
// times the memory. Running every pass on one thread keeps one arena's worth (the JS-facing
// AsyncWorker only waits for it).
#pragma once
#include <functional>

namespace cxrl {

// Runs fn on the engine thread and waits; an exception thrown by fn is rethrown here.
void run_on_engine_thread(const std::function<void()>& fn);

}  // namespace cxrl
