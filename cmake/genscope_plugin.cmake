# genscope_add_plugin(KIND NAME [NO_INSTALL] [OUTPUT_DIRECTORY dir] SOURCES...): builds libgenscope_<kind>_<name>.so,
# the MODULE library the plugin registry finds, into the build's plugin folder (and installs it).
# Works in the GenScope tree and, through find_package(genscope), out of tree.
function(genscope_add_plugin kind name)
  cmake_parse_arguments(PARSE_ARGV 2 arg "NO_INSTALL" "OUTPUT_DIRECTORY" "")
  if(NOT kind MATCHES "^(backend|sampler|estimator|analysis)$")
    message(FATAL_ERROR "genscope_add_plugin: kind must be backend, sampler, estimator or analysis, not '${kind}'")
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "genscope_add_plugin: name '${name}' must match [a-z0-9_]+")
  endif()
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "genscope_add_plugin: plugin ${kind} '${name}' has no source files")
  endif()
  set(target genscope_${kind}_${name})
  add_library(${target} MODULE ${arg_UNPARSED_ARGUMENTS})
  # The contracts and helpers only; a plugin that wraps the engine (the native backend) adds genscope::core.
  target_link_libraries(${target} PRIVATE genscope::plugin_api)
  if(TARGET genscope_warnings)
    target_link_libraries(${target} PRIVATE genscope_warnings genscope_arch)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "genscope_${kind}_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY})
  elseif(DEFINED GENSCOPE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${GENSCOPE_PLUGIN_OUTPUT_DIR})
  endif()
  set_property(GLOBAL APPEND PROPERTY GENSCOPE_PLUGIN_TARGETS ${target})
  if(NOT arg_NO_INSTALL)
    # Out of tree too: installed into the same prefix as GenScope, the registry finds it.
    include(GNUInstallDirs)
    install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/genscope/plugins)
  endif()
endfunction()
