// Progress reporting for long work: a redrawn bar on a terminal, periodic plain lines otherwise.
#pragma once

#include <genscope/export.hpp>

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>

namespace genscope {

/// Not thread-safe: advance() is called from one thread (the writer).
class GENSCOPE_API progress {
 public:
  /// `unit` names what is counted ("probes", "epochs"). Output goes to `out`;
  /// the bar style is used when `out` is std::cerr/std::cout attached to a terminal.
  progress(std::string label, std::size_t total, std::string unit, std::ostream& out, bool quiet);
  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  void advance(std::size_t n);
  /// Final line with the total time and rate.
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  std::size_t total_;
  std::string unit_;
  std::ostream& out_;
  bool quiet_;
  bool tty_;
  bool finished_ = false;
  std::size_t done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// "1:02:03" / "2:03" / "4.1s"
GENSCOPE_API std::string format_duration(double seconds);

}  // namespace genscope
