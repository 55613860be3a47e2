# Script behind the install_consumer test (see CMakeLists.txt here). Run with cmake -P.
# Inputs: BUILD_DIR WORK_DIR CONSUMER_SOURCE_DIR CONFIG GENERATOR MAKE_PROGRAM CXX_COMPILER
#         CXX_FLAGS LINK_FLAGS ALLOW_GCC_BELOW_13 (the build's opt-in, passed on to the consumer)
cmake_minimum_required(VERSION 3.25)

function(run_step name)
  message(STATUS "install_consumer: ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${name} failed (${status})\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/consumer-build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

if(NOT CONFIG)
  set(CONFIG Release)
endif()

run_step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG})

# Nothing from the build tree may leak into the consumer: it sees only the prefix.
run_step("configure consumer" ${CMAKE_COMMAND}
  -S ${CONSUMER_SOURCE_DIR} -B ${consumer_build}
  -G ${GENERATOR} -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DBRIGADE_ALLOW_GCC_BELOW_13=${ALLOW_GCC_BELOW_13}
  -DCMAKE_BUILD_TYPE=${CONFIG}
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run_step("build consumer" ${CMAKE_COMMAND} --build ${consumer_build} --parallel 1)
run_step("run consumer" ${consumer_build}/brigade_consumer)
string(STRIP "${step_output}" step_output)
if(NOT step_output MATCHES "answer 42")
  message(FATAL_ERROR "install_consumer: unexpected output from the consumer:\n${step_output}")
endif()
message("install_consumer: ok (${step_output})")
