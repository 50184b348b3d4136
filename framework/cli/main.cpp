// genscope command-line entry point (placeholder until the CLI lands).
#include <genscope/version.hpp>
#include <cstdio>
int main() { std::printf("genscope %s\n", genscope::version()); return 0; }
