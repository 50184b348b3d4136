# genscope_add_plugin(KIND NAME SOURCES...): builds libgenscope_<kind>_<name>.so, the MODULE
# library the plugin registry finds, into the build's plugin folder (and installs it).
# Works in the GenScope tree and, through find_package(genscope), out of tree.
function(genscope_add_plugin kind name)
  if(NOT kind MATCHES "^(backend|sampler|estimator)$")
    message(FATAL_ERROR "genscope_add_plugin: kind must be backend, sampler or estimator, not '${kind}'")
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "genscope_add_plugin: name '${name}' must match [a-z0-9_]+")
  endif()
  set(target genscope_${kind}_${name})
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE genscope::core)
  if(TARGET genscope_warnings)
    target_link_libraries(${target} PRIVATE genscope_warnings genscope_arch)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "genscope_${kind}_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED GENSCOPE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${GENSCOPE_PLUGIN_OUTPUT_DIR})
  endif()
  if(PROJECT_NAME STREQUAL "genscope")
    install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/genscope/plugins)
  endif()
endfunction()
