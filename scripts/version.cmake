# Writes iron/version.h: the project version, refined by `git describe`
# when the sources are a git checkout. Run at configure time and again at
# every build (the `iron_version` target), so that a binary names the
# commit it was built from, not the one CMake was configured at; the file
# is rewritten only when the version changed.
#
#   cmake -DSOURCE_DIR=... -DOUTPUT=... -DPROJECT_VERSION=... [-DGIT=...] -P version.cmake
set(IRON_VERSION "${PROJECT_VERSION}")
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT} describe --tags --always --dirty
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND describe)
    set(IRON_VERSION "${PROJECT_VERSION}+${describe}")
  endif()
endif()
configure_file(${SOURCE_DIR}/include/iron/version.h.in ${OUTPUT} @ONLY)
