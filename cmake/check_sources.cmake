# Refuses a source file that no CMakeLists.txt lists (run by the build's `layers` step and by
# the ctest sources_are_listed). Sources are explicit lists, so a new .cpp left out of its
# folder's list would silently never compile; this names it and the list it belongs in.
#   cmake -DROOT=<source dir> -P cmake/check_sources.cmake
# Folder -> the CMakeLists.txt that lists its .cpp files (by name, relative to that file).
cmake_minimum_required(VERSION 3.25)
if(NOT ROOT)
  message(FATAL_ERROR "check_sources.cmake: pass -DROOT=<the source directory>")
endif()

set(_owners
  "agent|agent/CMakeLists.txt"
  "agent/cmd|agent/cmd/CMakeLists.txt|CMakeLists.txt"
  "roles|roles/CMakeLists.txt"
  "probes|probes/CMakeLists.txt"
  "test/unit|test/CMakeLists.txt"
  "test/support|test/CMakeLists.txt"
  "test/support/sts|test/CMakeLists.txt"
  "test/integration|test/CMakeLists.txt"
  "test/e2e|test/CMakeLists.txt")
set(_missing "")
foreach(_owner IN LISTS _owners)
  string(REPLACE "|" ";" _parts "${_owner}")
  list(GET _parts 0 _dir)
  list(SUBLIST _parts 1 -1 _lists)
  if(NOT IS_DIRECTORY ${ROOT}/${_dir})
    continue()
  endif()
  set(_text "")
  foreach(_list IN LISTS _lists)
    if(EXISTS ${ROOT}/${_list})
      file(READ ${ROOT}/${_list} _content)
      string(APPEND _text "${_content}\n")
    endif()
  endforeach()
  file(GLOB _files RELATIVE ${ROOT}/${_dir} ${ROOT}/${_dir}/*.cpp)
  foreach(_file IN LISTS _files)
    # Listed as "name.cpp" in the folder's own list, or by a path ending in dir/name.cpp.
    string(REGEX REPLACE "([.+])" "\\\\\\1" _name_re "${_file}")
    if(NOT _text MATCHES "(^|[ \t\n/(])${_name_re}([ \t\n)]|$)")
      list(JOIN _lists " or " _where)
      string(APPEND _missing "  ${_dir}/${_file}: add it to ${_where}\n")
    endif()
  endforeach()
endforeach()

if(_missing)
  message(FATAL_ERROR "source files no CMakeLists.txt lists (they would never compile):\n"
                      "${_missing}")
endif()
