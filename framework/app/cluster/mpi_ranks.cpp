// OpenMPI behind rank_group: broadcast and gather of bytes of any size, in chunks below MPI's int counts.
#include "cluster/mpi_ranks.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#ifdef GENSCOPE_WITH_MPI
#include <mpi.h>
#endif

namespace genscope {

namespace {

/// The number of processes a launcher says this job has, or 0 when no launcher started this process.
std::size_t launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name); v != nullptr) return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
  // srun with PMIx sets PMIX_RANK but not always a size; MPI then tells.
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;
}

#ifdef GENSCOPE_WITH_MPI

/// Bytes per MPI message: counts are ints.
constexpr std::size_t chunk_bytes = std::size_t{1} << 30;

void check(int status, const char* call) {
  if (status != MPI_SUCCESS) throw error(fmt::format("MPI: {} failed (error {})", call, status));
}

class mpi_ranks final : public rank_group {
 public:
  mpi_ranks() {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    // Errors come back as codes (check() turns them into one line) instead of aborting the job unexplained.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 0;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
    rank_ = static_cast<std::size_t>(rank);
    size_ = static_cast<std::size_t>(size);
  }
  ~mpi_ranks() override { MPI_Finalize(); }
  mpi_ranks(const mpi_ranks&) = delete;
  mpi_ranks& operator=(const mpi_ranks&) = delete;

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }

  void broadcast_bytes(void* data, std::size_t size) const override {
    char* bytes = static_cast<char*>(data);
    for (std::size_t at = 0; at < size; at += chunk_bytes)
      check(MPI_Bcast(bytes + at, static_cast<int>(std::min(chunk_bytes, size - at)), MPI_BYTE, 0, MPI_COMM_WORLD),
            "MPI_Bcast");
  }

  std::vector<std::string> gather(const std::string& bytes) const override {
    std::vector<std::string> all;
    if (rank_ != 0) {
      send(bytes, 0);
      return all;
    }
    all.resize(size_);
    all[0] = bytes;
    // One rank at a time, in rank order: rank 0 holds what it received and nothing in flight besides.
    for (std::size_t r = 1; r < size_; ++r) all[r] = receive(static_cast<int>(r));
    return all;
  }

  [[noreturn]] void abort(int code) const override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, this process still ends
  }

 private:
  static void send(const std::string& bytes, int to) {
    const std::uint64_t n = bytes.size();
    check(MPI_Send(&n, 1, MPI_UINT64_T, to, 0, MPI_COMM_WORLD), "MPI_Send");
    for (std::size_t at = 0; at < n; at += chunk_bytes)
      check(MPI_Send(bytes.data() + at, static_cast<int>(std::min(chunk_bytes, n - at)), MPI_BYTE, to, 0,
                     MPI_COMM_WORLD),
            "MPI_Send");
  }
  static std::string receive(int from) {
    std::uint64_t n = 0;
    check(MPI_Recv(&n, 1, MPI_UINT64_T, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    std::string bytes(n, '\0');
    for (std::size_t at = 0; at < n; at += chunk_bytes)
      check(MPI_Recv(bytes.data() + at, static_cast<int>(std::min(chunk_bytes, n - at)), MPI_BYTE, from, 0,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
    return bytes;
  }

  std::size_t rank_ = 0;
  std::size_t size_ = 1;
};

#endif

}  // namespace

std::string mpi_library() {
#ifdef GENSCOPE_WITH_MPI
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  if (MPI_Get_library_version(text, &length) != MPI_SUCCESS) return "MPI (version unknown)";
  std::string version(text, static_cast<std::size_t>(length));
  return version.substr(0, std::min(version.find(','), version.find('\n')));
#else
  return "";
#endif
}

std::unique_ptr<rank_group> join_mpi_job() {
  if (launched_size() == 0) return nullptr;
#ifdef GENSCOPE_WITH_MPI
  return std::make_unique<mpi_ranks>();
#else
  if (launched_size() == 1) return nullptr;
  throw error(fmt::format("an MPI launcher started {} processes, but this genscope was built without MPI "
                          "(install libopenmpi-dev and rebuild); each would compute the whole experiment",
                          launched_size()));
#endif
}

}  // namespace genscope
