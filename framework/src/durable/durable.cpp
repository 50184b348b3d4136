// Atomic file replacement (unique temporary, fsync, rename, fsync of the folder) and flock-based locks.
#include "durable/durable.hpp"

#include "durable/stop_request.hpp"

#include <genscope/error.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace genscope::durable {

namespace fs = std::filesystem;

namespace {

std::string reason(int err) { return std::strerror(err); }

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

/// Writes all of `data`, retrying short writes and EINTR; false with errno set on failure.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

constexpr const char* temporary_marker = ".tmp-";

}  // namespace

void replace_file(const std::string& target, const void* data, std::size_t size) {
  static std::atomic<unsigned> counter{0};
  const std::string temporary =
      target + temporary_marker + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw io_error(target, "cannot write '" + temporary + "': " + reason(errno));
  const auto give_up = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw io_error(target, what + ": " + reason(err));
  };
  if (!write_all(fd, static_cast<const char*>(data), size)) give_up("cannot write '" + temporary + "'", errno);
  // Written data can still fail to reach the disk (a full disk found at allocation): fsync says so.
  if (::fsync(fd) != 0) give_up("cannot write '" + temporary + "'", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    throw io_error(target, "cannot write '" + temporary + "': " + reason(err));
  }
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    throw io_error(target, "cannot move '" + temporary + "' into place: " + reason(err));
  }
  // The rename itself is durable only once the folder's entry reaches the disk.
  const int dir = ::open(folder_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const int synced = ::fsync(dir);
    const int err = errno;
    ::close(dir);
    if (synced != 0 && err != EINVAL) throw io_error(target, "cannot sync its folder: " + reason(err));
  }
}

void remove_stale_temporaries(const std::string& target) {
  const std::string prefix = fs::path(target).filename().string() + temporary_marker;
  std::error_code ec;
  for (fs::directory_iterator it(folder_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const pid_t pid = static_cast<pid_t>(std::strtol(rest.c_str(), nullptr, 10));
    // A writer that still runs owns its temporary; one that is gone left it behind.
    if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;
    std::error_code ignored;
    fs::remove(it->path(), ignored);
  }
}

file_lock::file_lock(std::string path, bool wait, const std::function<void(const std::string&)>& on_wait)
    : path_(std::move(path)) {
  bool told = false;
  for (;;) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) throw io_error(path_, "cannot create lock file: " + reason(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      // The holder before us removes the file on release: a lock on a removed file locks nothing.
      struct stat held {}, named {};
      if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
          held.st_dev == named.st_dev)
        break;
      ::close(fd_);
      continue;
    }
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    const std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw io_error(path_, "cannot lock: " + reason(err));
    if (!wait) throw io_error(path_, "is locked by another running genscope process (pid " + holder + ")");
    if (!told && on_wait) on_wait(holder);
    told = true;
    throw_if_stop_requested();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid only improves messages; the lock itself is held.
  }
}

file_lock::~file_lock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace genscope::durable
