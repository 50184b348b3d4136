// Benchmark of the native engine: epochs and seconds for a 784-512-512-10 MLP to memorize 5,000 randomly labelled Fashion-MNIST images, and forward GFLOP/s.
#include "nn/trainer_detail.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>

#include <tbb/global_control.h>
#include <tbb/info.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

using namespace genscope;

namespace {

constexpr double target_accuracy = 0.99;

struct stop_training {};  // thrown from the epoch callback once the target is reached

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// GFLOP/s of mlp::forward on `rows` inputs (2 flops per multiply-add), timed over at least one second.
double forward_gflops(const mlp& net, const matrix& x) {
  double flops_per_row = 0;
  for (const dense_layer& l : net.layers()) flops_per_row += 2.0 * static_cast<double>(l.weight.rows * l.weight.cols);
  matrix logits;
  net.forward(x, logits);  // warm-up: page in buffers, start the thread pool
  std::size_t reps = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    net.forward(x, logits);
    ++reps;
    elapsed = seconds_since(start);
  } while (elapsed < 1.0);
  return flops_per_row * static_cast<double>(x.rows) * static_cast<double>(reps) / elapsed / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::size_t max_epochs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 400;
    dataset_spec spec;
    spec.name = "fashion-mnist-5000-random";
    spec.source = "idx";
    spec.split = "train";
    spec.subset = 5000;
    spec.labels_mode = label_mode::random;
    spec.seed = 1;
    const auto load_start = std::chrono::steady_clock::now();
    const dataset data = build_dataset(spec);
    std::printf("data: %zu samples x %zu features, %zu classes, random labels (loaded in %.2f s)\n", data.size(),
                data.dim(), data.class_count, seconds_since(load_start));
    std::printf("threads: %d\n", tbb::info::default_concurrency());

    train_config config;
    config.hidden = {512, 512};
    config.optimizer = "adam";
    config.learning_rate = 1e-3;
    config.batch_size = 128;
    config.epochs = max_epochs;
    config.seed = 1;
    training_record record;
    record.label_mode = "random";

    std::size_t reached = 0;
    std::size_t epochs_run = 0;
    double epoch_seconds = 0;
    std::printf("%6s %10s %10s %8s\n", "epoch", "loss", "train_acc", "seconds");
    const auto train_start = std::chrono::steady_clock::now();
    try {
      train_mlp(data, nullptr, config, record, [&](const epoch_record& e) {
        std::printf("%6zu %10.5f %10.4f %8.3f\n", e.epoch, e.train_loss, e.train_accuracy, e.seconds);
        std::fflush(stdout);
        ++epochs_run;
        epoch_seconds += e.seconds;
        if (e.train_accuracy >= target_accuracy) {
          reached = e.epoch;
          throw stop_training{};
        }
      });
    } catch (const stop_training&) {
    }
    const double total = seconds_since(train_start);

    const mlp net(detail::initial_layers(784, 10, config), {784});
    matrix x(4096, 784);
    for (std::size_t i = 0; i < x.rows; ++i)
      std::copy(data.x.row(i % data.size()), data.x.row(i % data.size()) + 784, x.row(i));
    const double gflops = forward_gflops(net, x);
    double gflops_one = 0;
    {
      tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
      gflops_one = forward_gflops(net, x);
    }

    std::printf("\n%s, Adam lr %g, batch %zu, seed %llu\n", net.describe().c_str(), config.learning_rate,
                config.batch_size, static_cast<unsigned long long>(config.seed));
    if (reached > 0)
      std::printf("epochs to %.0f%% train accuracy: %zu\n", 100 * target_accuracy, reached);
    else
      std::printf("epochs to %.0f%% train accuracy: not reached in %zu epochs\n", 100 * target_accuracy, epochs_run);
    std::printf("mean seconds per epoch (incl. evaluation): %.3f\n", epoch_seconds / static_cast<double>(epochs_run));
    std::printf("total training seconds: %.1f\n", total);
    std::printf("forward throughput, batch 4096: %.1f GFLOP/s (%d threads), %.1f GFLOP/s (1 thread)\n", gflops,
                tbb::info::default_concurrency(), gflops_one);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", describe(e).c_str());
    return 1;
  }
}
