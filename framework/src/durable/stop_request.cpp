// Records stop signals in a lock-free atomic; the work loops turn them into stop_requested_error.
#include "durable/stop_request.hpp"

#include <atomic>
#include <csignal>
#include <cstring>

namespace genscope {

namespace {
std::atomic<int> pending_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");

extern "C" void record_stop_signal(int signal) {
  pending_signal.store(signal);
  // The next signal of this kind takes its default action: a user pressing Ctrl-C twice means it.
  std::signal(signal, SIG_DFL);
}
}  // namespace

stop_requested_error::stop_requested_error(int signal)
    : error(std::string("stopped by ") + (signal == SIGINT    ? "SIGINT"
                                          : signal == SIGTERM ? "SIGTERM"
                                          : signal == SIGHUP  ? "SIGHUP"
                                                              : "signal " + std::to_string(signal))),
      signal_(signal) {}
stop_requested_error::~stop_requested_error() = default;

void install_stop_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal() noexcept { return pending_signal.load(); }

void throw_if_stop_requested() {
  if (const int s = pending_signal.load()) throw stop_requested_error(s);
}

void request_stop(int signal) noexcept { pending_signal.store(signal); }

}  // namespace genscope
