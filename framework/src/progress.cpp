// Progress bar with rate and ETA on terminals; plain periodic lines in logs and CI.
#include "progress.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <unistd.h>

namespace genscope {

namespace {
bool is_terminal(const std::ostream& out) {
  if (&out == &std::cerr) return ::isatty(STDERR_FILENO) != 0;
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) != 0;
  return false;
}
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s < 3600) return fmt::format("{}:{:02}", s / 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

progress::progress(std::string label, std::size_t total, std::string unit, std::ostream& out, bool quiet)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)), out_(out), quiet_(quiet),
      tty_(is_terminal(out)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

progress::~progress() {
  if (tty_ && !quiet_ && !finished_ && done_ > 0) out_ << '\n' << std::flush;  // leave the bar's line
}

void progress::advance(std::size_t n) {
  done_ += n;
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // Terminals redraw ten times a second; logs get a line every 10 s so CI output stays short.
  if (since >= (tty_ ? 0.1 : 10.0) || (tty_ && done_ >= total_)) {
    last_draw_ = now;
    draw(false);
  }
}

void progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!quiet_) draw(true);
}

void progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done_, total_)) / rate : NAN;
  std::string line;
  if (final) {
    line = fmt::format("{}: {} {} in {} ({:.1f} {}/s)", label_, done_, unit_, format_duration(elapsed), rate, unit_);
  } else if (tty_) {
    constexpr int width = 28;
    const int filled = static_cast<int>(fraction * width);
    line = fmt::format("{} [{}{}] {:3.0f}% {}/{} {} {:.1f}/s ETA {}", label_, std::string(filled, '#'),
                       std::string(width - filled, '.'), 100 * fraction, done_, total_, unit_, rate,
                       format_duration(eta));
  } else {
    line = fmt::format("{}: {}/{} {} ({:.0f}%), {:.1f}/s, ETA {}", label_, done_, total_, unit_, 100 * fraction,
                       rate, format_duration(eta));
  }
  if (tty_) {
    out_ << '\r' << line << "\x1b[K";
    if (final) out_ << '\n';
  } else {
    out_ << line << '\n';
  }
  out_ << std::flush;
}

}  // namespace genscope
