// Stopping cleanly on SIGINT, SIGTERM and SIGHUP: the handlers only record the signal; long work polls it.
#pragma once

#include <genscope/error.hpp>
#include <genscope/export.hpp>

#include <string>

namespace genscope {

/// Thrown by throw_if_stop_requested() once a stop signal arrived. what() names the signal.
class GENSCOPE_API stop_requested_error : public error {
 public:
  explicit stop_requested_error(int signal);
  ~stop_requested_error() override;
  int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that record the signal (async-signal-safe,
/// no other effect), and ignores SIGPIPE so that a closed output pipe is a failed write, not a
/// dead process. A second signal of the same kind while stopping kills the process as usual.
GENSCOPE_API void install_stop_handlers();

/// The signal that asked to stop, 0 when none did.
GENSCOPE_API int stop_signal() noexcept;

/// Throws stop_requested_error when a stop signal arrived; long loops call it between units of
/// work (batches, epochs) so that what is finished can be saved before the process exits.
GENSCOPE_API void throw_if_stop_requested();

/// Records `signal` as if it had arrived (tests).
GENSCOPE_API void request_stop(int signal) noexcept;

}  // namespace genscope
