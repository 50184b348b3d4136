// Crash-safe file replacement and advisory locks that die with their process: the durability primitives.
// Private to GenScope (not installed) but exported from the core so the CLI and tests can use it.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <functional>
#include <string>

namespace genscope::durable {

/// Replaces `target` with `size` bytes so that a crash at any instant leaves either the old
/// `target` (or none) or the new one, never a mixture: the bytes go to a temporary of a unique
/// name beside it (TARGET.tmp-PID-N), are fsync'ed, renamed over `target`, and the folder is
/// fsync'ed. Any failure (a full disk: ENOSPC, a read-only folder) throws io_error naming
/// `target` and the reason; the temporary is removed and `target` is left as it was.
GENSCOPE_API void replace_file(const std::string& target, const void* data, std::size_t size);

/// Removes leftovers of replace_file for `target` (TARGET.tmp-*) whose writing process is gone.
GENSCOPE_API void remove_stale_temporaries(const std::string& target);

/// An exclusive advisory lock (flock) on the file `path` (created if missing). The kernel drops
/// it when the holder exits, however it exits (kill -9 included), so a lock never outlives a
/// crashed process. Released (and the lock file removed) on destruction.
class GENSCOPE_API file_lock {
 public:
  /// Takes the lock. When another process holds it: with `wait`, calls `on_wait` once and blocks
  /// until it is released; without, throws io_error naming `path` and the holder's pid.
  file_lock(std::string path, bool wait, const std::function<void(const std::string& holder)>& on_wait = {});
  ~file_lock();
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace genscope::durable
