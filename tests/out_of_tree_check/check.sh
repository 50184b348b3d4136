#!/usr/bin/env bash
# Installs GenScope into a scratch prefix, checks its headers and package, and builds and runs the out-of-tree plugin.
# Usage: check.sh CMAKE BUILD_DIR PROJECT_DIR WORK_DIR LIBDIR CXX GENERATOR
set -euo pipefail
cmake=$1 build=$2 project=$3 work=$4 libdir=$5 cxx=$6 generator=$7
prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"

step() { echo "== $*"; }

step "install GenScope into $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log"

# Each installed header must compile alone and include only the C++ standard library
# (<name>, no extension) and other GenScope headers: a plugin author gets only these
# headers and genscope::core, no third-party include paths.
step "installed headers are self-sufficient"
for header in "$prefix"/include/genscope/*.hpp; do
  name=$(basename "$header")
  if grep -E '^\s*#\s*include' "$header" | grep -vE '#\s*include <(genscope/[a-z_]+\.hpp|[a-z_]+)>'; then
    echo "installed header genscope/$name includes something other than the standard library"
    exit 1
  fi
  echo "#include <genscope/$name>" > "$work/header_check.cpp"
  "$cxx" -std=c++20 -fsyntax-only -I"$prefix/include" "$work/header_check.cpp" ||
    { echo "installed header genscope/$name does not compile on its own"; exit 1; }
done

step "configure and build the out-of-tree project against the installed package"
"$cmake" -S "$project" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_INSTALL_PREFIX="$prefix" > "$work/configure.log"
"$cmake" --build "$work/build" -j 2 > "$work/build.log" || { cat "$work/build.log"; exit 1; }

step "load the plugin from its build folder"
env -u GENSCOPE_PLUGIN_PATH "$work/build/scan_check" "$work/build"

step "install the plugin beside GenScope's and find both with discover()"
"$cmake" --install "$work/build" > "$work/install-plugin.log"
GENSCOPE_PLUGIN_PATH="$prefix/$libdir/genscope/plugins" "$work/build/scan_check" "$prefix/$libdir/genscope/plugins"
