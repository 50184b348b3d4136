// The MPI ranks of a job started by an MPI launcher (mpirun, srun), as the rank_group run_experiment splits work over.
#pragma once

#include <genscope/ranks.hpp>

#include <memory>
#include <string>

namespace genscope {

/// Joins the MPI job this process belongs to (MPI_Init) when an MPI launcher started it (OpenMPI's mpirun,
/// or a PMI/PMIx launcher such as srun), and returns its ranks; returns null without touching MPI otherwise,
/// so a plain `genscope run` never initializes it. MPI is finalized when the result is destroyed. Throws
/// error when a launcher started this process but the build has no MPI (libopenmpi-dev was absent).
std::unique_ptr<rank_group> join_mpi_job();

/// The MPI library this build joins jobs with (e.g. "Open MPI v4.1.4"), or "" for a build without MPI.
std::string mpi_library();

}  // namespace genscope
