# Refuses an #include that goes up or across the layers (run by the build: the `layers` step
# in CMakeLists.txt, before any library compiles; and by the ctest layers_refuse_a_leak).
#   cmake -DROOT=<source dir> -P cmake/check_layers.cmake
# The layers, top-down (README "Layout"):
#   agent/cmd/  the composition root: may include every layer
#   roles/      may include roles/ and agent/ (not agent/cmd/)
#   probes/     may include probes/ and agent/ (not agent/cmd/)
#   agent/      may include agent/ only (not agent/cmd/)
# roles/ and probes/ are peers: what one needs of the other is passed in by agent/cmd/.
cmake_minimum_required(VERSION 3.25)
if(NOT ROOT)
  message(FATAL_ERROR "check_layers.cmake: pass -DROOT=<the source directory>")
endif()

set(_violations "")
foreach(_layer agent roles probes)
  file(GLOB_RECURSE _files RELATIVE ${ROOT} ${ROOT}/${_layer}/*.cpp ${ROOT}/${_layer}/*.hpp)
  foreach(_file IN LISTS _files)
    if(_file MATCHES "^agent/cmd/")
      continue()  # the composition root
    endif()
    if(_layer STREQUAL "agent")
      set(_allowed "agent")
    else()
      set(_allowed "${_layer};agent")
    endif()
    file(STRINGS ${ROOT}/${_file} _includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(_line IN LISTS _includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" _header "${_line}")
      string(REGEX MATCH "^[^/]+" _top "${_header}")
      if(NOT _header MATCHES "/")
        continue()  # a header beside the file ("fakes.hpp"), not a layer
      endif()
      if(_header MATCHES "^agent/cmd/")
        set(_ok FALSE)
      elseif(_top IN_LIST _allowed)
        set(_ok TRUE)
      elseif(_top STREQUAL "roles" OR _top STREQUAL "probes" OR _top STREQUAL "agent")
        set(_ok FALSE)
      else()
        set(_ok TRUE)  # a third-party header with a path, e.g. "prometheus/counter.h"
      endif()
      if(NOT _ok)
        string(REPLACE ";" "/ and " _may "${_allowed}")
        string(APPEND _violations
               "  ${_file} includes ${_header}: ${_layer}/ may include ${_may}/ only\n")
      endif()
    endforeach()
  endforeach()
endforeach()

if(_violations)
  message(FATAL_ERROR "includes against the layers (agent/cmd -> roles, probes -> agent; "
                      "README \"Layout\"):\n${_violations}"
                      "Move the shared piece down to agent/, or pass it in from agent/cmd/.")
endif()
