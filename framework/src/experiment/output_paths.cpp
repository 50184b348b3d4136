// Output paths checked before any work: never a non-regular file, never a file the work reads, a writable folder.
#include <genscope/datasets.hpp>
#include <genscope/experiment.hpp>

#include "experiment/output_paths.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace genscope {

namespace fs = std::filesystem;

namespace detail {

std::string folder_problem(const fs::path& folder) {
  std::error_code ec;
  const fs::path dir = folder.empty() ? fs::path(".") : folder;
  fs::create_directories(dir, ec);
  if (ec) return fmt::format("cannot create folder '{}': {}", dir.string(), ec.message());
  if (!fs::is_directory(dir, ec)) return fmt::format("'{}' is not a folder", dir.string());
  // access(W_OK) can be wrong (root, read-only mounts, ACLs); creating a file is the real test.
  const fs::path probe = dir / fmt::format(".genscope-write-test-{}", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return fmt::format("cannot create files in '{}': {}", dir.string(), std::generic_category().message(err));
  }
  ::close(fd);
  fs::remove(probe, ec);
  return "";
}

}  // namespace detail

namespace {

/// "a folder", "a device", ... for an existing path that is not a regular file; "" for a regular file or none.
std::string non_regular(const fs::path& p) {
  std::error_code ec;
  const fs::file_status s = fs::status(p, ec);
  if (ec || !fs::exists(s) || fs::is_regular_file(s)) return "";
  if (fs::is_directory(s)) return "a folder";
  if (fs::is_block_file(s) || fs::is_character_file(s)) return "a device";
  if (fs::is_socket(s)) return "a socket";
  if (fs::is_fifo(s)) return "a pipe";
  return "not a regular file";
}

/// The same file: equal normalized absolute paths, or (both existing) the same inode.
bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec) && !ec) return true;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec) && !ec;
}

bool inside(const fs::path& file, const fs::path& folder) {
  std::error_code ec;
  const fs::path f = fs::weakly_canonical(file, ec);
  const fs::path d = fs::weakly_canonical(folder, ec);
  if (ec || d.empty()) return false;
  auto fi = f.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++fi)
    if (*di != "" && (fi == f.end() || *fi != *di)) return false;
  return true;
}

}  // namespace

std::string output_problem(const std::string& output, const std::vector<input_file>& inputs,
                           const std::string& protected_folder) {
  if (output.empty()) return "it is empty";
  if (output.back() == '/') return "it names a folder (it ends in '/'), not a file";
  const fs::path out(output);
  for (const std::string& candidate : {output, output + ".partial"})
    if (const std::string kind = non_regular(candidate); !kind.empty())
      return fmt::format("'{}' exists and is {}", candidate, kind);
  for (const input_file& in : inputs)
    if (!in.path.empty() && same_file(out, in.path))
      return fmt::format("it is {} ('{}'), which would be overwritten", in.what, in.path);
  if (!protected_folder.empty() && inside(out, protected_folder))
    return fmt::format("it lies inside the model cache '{}', which holds trained models", protected_folder);
  return detail::folder_problem(out.parent_path());
}

std::vector<input_file> experiment_inputs(const experiment& exp) {
  std::vector<input_file> out{{exp.file, "the experiment file"}};
  for (const dataset_spec& d : exp.datasets)
    for (const std::string& f : dataset_files(d)) out.push_back({f, "a file of data set '" + d.name + "'"});
  const auto options = [&](const option_set& o, const std::string& what) {
    for (const auto& [name, value] : o.values())
      if (name == "path" && std::holds_alternative<std::string>(value))
        out.push_back({std::get<std::string>(value), what + "'s file"});
  };
  for (const model_spec& m : exp.models) options(m.backend_options, "model '" + m.name + "'");
  for (const sampler_spec& s : exp.samplers) options(s.options, "sampler '" + s.name + "'");
  for (const estimator_spec& e : exp.estimators) options(e.options, "estimator '" + e.name + "'");
  for (const analysis_spec& a : exp.analyses) options(a.options, "analysis '" + a.name + "'");
  return out;
}

}  // namespace genscope
